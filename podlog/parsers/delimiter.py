"""The ``delimiter`` parser (alias ``tsv``): values split on a separator, no quoting.

For tab-separated and similar logs where values never contain the separator:
a plain split is several times cheaper than a CSV reader.
"""

from __future__ import annotations

from typing import Any, ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher, decode_lines

__all__ = ["DelimiterParser"]


class DelimiterParser(Parser):
    """Values are matched to ``keys`` in order; extra values are dropped, missing keys left out."""

    name: ClassVar[str] = "delimiter"
    aliases: ClassVar[tuple[str, ...]] = ("tsv",)

    class Options(Parser.Options, CommonOptions):
        keys = Option("list", doc="Field names, in column order (a list or 'a,b,c').")
        delimiter = Option("str", "\t", aliases=("separator",), doc="Separator string (default: a tab).")
        time_key = Option("str", "time", doc="Field holding the event time; it becomes @timestamp. Empty: no time.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        if not options.keys:
            raise options.error("keys", "at least one key is needed")
        if not options.delimiter:
            raise options.error("delimiter", "must not be empty")
        self.keys: list[str] = list(options.keys)
        self.delimiter: str = options.delimiter
        self.finish = Finisher(options)

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        keys = self.keys
        sep = self.delimiter
        out: list[Parsed] = [
            dict(zip(keys, line.split(sep), strict=False)) if line else ParseFailure("empty line")
            for line in decode_lines(messages)
        ]
        return self.finish(out) if self.finish.active else out
