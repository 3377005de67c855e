"""The ``none`` parser: the whole line as one field, for logs with no structure."""

from __future__ import annotations

from typing import ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, Parser
from podlog.parsers._util import decode_lines

__all__ = ["NoneParser"]


class NoneParser(Parser):
    """Keeps each line as text under ``message_key``; it never fails and sets no time."""

    name: ClassVar[str] = "none"

    class Options(Parser.Options):
        message_key = Option("str", "message", doc="Field that receives the line.")

    options: Options

    def __init__(self, options: Options, **context: object) -> None:
        super().__init__(options, **context)
        self.message_key: str = options.message_key

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        key = self.message_key
        return [{key: line} for line in decode_lines(messages)]
