"""The ``csv`` parser: delimited values with quoting, named by ``keys``.

Uses the standard library's C reader on the whole batch at once. A quoted
field left open would run into the next line there, so when the row count
does not match the line count each line is read on its own instead.
"""

from __future__ import annotations

import csv
from typing import Any, ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher, decode_lines

__all__ = ["CsvParser"]


class CsvParser(Parser):
    """Values are matched to ``keys`` in order; extra values are dropped, missing keys left out."""

    name: ClassVar[str] = "csv"

    class Options(Parser.Options, CommonOptions):
        keys = Option("list", doc="Field names, in column order (a list or 'a,b,c').")
        delimiter = Option("str", ",", aliases=("separator",), doc="One-character column separator.")
        quote_char = Option("str", '"', aliases=("quote",), doc="One-character quote; empty: no quoting.")
        time_key = Option("str", "time", doc="Field holding the event time; it becomes @timestamp. Empty: no time.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        if not options.keys:
            raise options.error("keys", "at least one key is needed")
        if len(options.delimiter) != 1:
            raise options.error("delimiter", "must be exactly one character")
        if len(options.quote_char) > 1:
            raise options.error("quote_char", "must be one character, or empty for no quoting")
        self.keys: list[str] = list(options.keys)
        self.dialect: dict[str, Any] = {"delimiter": options.delimiter, "strict": True}
        if options.quote_char:
            self.dialect["quotechar"] = options.quote_char
        else:
            self.dialect["quoting"] = csv.QUOTE_NONE
        self.finish = Finisher(options)

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        lines = decode_lines(messages)
        rows = self._rows(lines)
        keys = self.keys
        out: list[Parsed] = []
        append = out.append
        for row in rows:
            if type(row) is list and row:
                append(dict(zip(keys, row, strict=False)))
            else:
                append(row if type(row) is ParseFailure else ParseFailure("empty line"))
        return self.finish(out) if self.finish.active else out

    def _rows(self, lines: list[str]) -> list[Any]:
        """One row per line: the whole batch in one reader when it lines up, else line by line."""
        try:
            rows = list(csv.reader(lines, **self.dialect))
            if len(rows) == len(lines):
                return rows
        except (csv.Error, ValueError):
            pass
        out: list[Any] = []
        for line in lines:
            try:
                rows = list(csv.reader((line,), **self.dialect))
            except (csv.Error, ValueError) as exc:
                out.append(ParseFailure(f"invalid CSV: {exc}"))
                continue
            out.append(rows[0] if len(rows) == 1 else ParseFailure("invalid CSV: unterminated quote"))
        return out
