"""The ``logfmt`` parser: ``key=value key2="quoted value" flag`` lines (Go, Heroku, Grafana stack).

A line must consist only of pairs, so prose with a stray ``=`` is a
ParseFailure rather than a record full of junk keys. Values stay strings
(``types`` converts them); a bare key is ``true``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import msgspec

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher, decode_lines

__all__ = ["LogfmtParser"]

_KEY = r'[^\s="]+'
_VALUE = r'"(?:[^"\\]|\\.)*"|[^\s"]*'
_PAIRS = re.compile(rf"({_KEY})(?:(=)({_VALUE}))?")  # findall: (key, "=" or "", value)
_LINE = re.compile(rf"\s*(?:{_KEY}(?:=(?:{_VALUE}))?(?:\s+|\Z))+")
_ESCAPE = re.compile(r"\\(.)")
_unquote_json = msgspec.json.Decoder(str).decode


def _unquote(quoted: str) -> str:
    """``"a \\"b\\""`` -> ``a "b"``; JSON escapes first, then any other backslash pair literally."""
    inner = quoted[1:-1]
    if "\\" not in inner:
        return inner
    try:
        return _unquote_json(quoted)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return _ESCAPE.sub(r"\1", inner)


class LogfmtParser(Parser):
    """Pairs in order; a repeated key keeps its last value."""

    name: ClassVar[str] = "logfmt"

    class Options(Parser.Options, CommonOptions):
        time_key = Option("str", "time", doc="Field holding the event time; it becomes @timestamp. Empty: no time.")
        bare_key_value = Option("any", True, doc="Value given to a key written without =value.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.finish = Finisher(options)
        self.bare = options.bare_key_value

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        valid = _LINE.fullmatch
        pairs = _PAIRS.findall
        bare = self.bare
        out: list[Parsed] = []
        append = out.append
        for line in decode_lines(messages):
            if "=" not in line or valid(line) is None:
                append(ParseFailure("not logfmt: expected key=value pairs"))
                continue
            fields: dict[str, Any] = {}
            for key, eq, value in pairs(line):
                if not value:
                    fields[key] = value if eq else bare
                elif value[0] == '"':
                    fields[key] = _unquote(value)
                else:
                    fields[key] = value
            append(fields)
        return self.finish(out) if self.finish.active else out
