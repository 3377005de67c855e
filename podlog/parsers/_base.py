"""Parser base: turn a list of message bytes into fields, a whole list per call."""

from __future__ import annotations

from typing import Any, ClassVar

from podlog.plugin import Plugin

__all__ = ["ParseFailure", "Parsed", "Parser"]


class ParseFailure:
    """A message that did not parse: it is kept raw with ``reason`` in an error field."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"ParseFailure({self.reason!r})"


# dict: fields; bytes: a validated JSON object to splice as is; ParseFailure: keep raw.
Parsed = dict[str, Any] | bytes | ParseFailure


class Parser(Plugin):
    """Parsers work on a whole batch of messages so per-call overhead is paid once.

    A parser that finds a time sets ``"@timestamp"`` (RFC 3339 string) in the
    fields; the record builder then uses it instead of the read/envelope time.
    """

    kind: ClassVar[str] = "parser"

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        raise NotImplementedError
