"""The ``regex`` parser: named groups of one regular expression become fields.

Fluentd configs carry over: Ruby's ``(?<name>...)`` groups and the
``/expression/flags`` form are accepted. As in Fluentd the expression is
searched, not anchored: start it with ``^`` to match whole lines.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher, decode_lines, slashed_regex

__all__ = ["RegexParser", "compile_expression"]



def compile_expression(expression: str, ignorecase: bool = False, multiline: bool = False) -> re.Pattern[str]:
    """Compile a Python or Fluentd/Ruby expression; raises ValueError with the reason."""
    flags = (re.IGNORECASE if ignorecase else 0) | (re.DOTALL if multiline else 0)
    try:
        rx = slashed_regex(expression, flags)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if not rx.groupindex:
        raise ValueError("the expression has no named groups, so it would produce no fields")
    return rx


class RegexParser(Parser):
    """Fields from the named groups of ``expression``; groups that did not take part are left out."""

    name: ClassVar[str] = "regex"
    aliases: ClassVar[tuple[str, ...]] = ("regexp",)

    class Options(Parser.Options, CommonOptions):
        expression = Option(
            "str", aliases=("regex", "format"),
            doc="Regular expression with named groups, (?P<name>...) or Ruby's (?<name>...); "
            "/expression/imx is accepted too.",
        )
        ignorecase = Option("bool", False, doc="Match letters regardless of case.")
        multiline = Option("bool", False, doc="Let . match newlines (Ruby's /m).")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        try:
            self.regex = compile_expression(options.expression, options.ignorecase, options.multiline)
        except ValueError as exc:
            raise options.error("expression", str(exc)) from None
        self.finish = Finisher(options)

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        search = self.regex.search
        out: list[Parsed] = []
        append = out.append
        for line in decode_lines(messages):
            m = search(line)
            if m is None:
                append(ParseFailure("no match for the expression"))
                continue
            fields = m.groupdict()
            if None in fields.values():
                fields = {k: v for k, v in fields.items() if v is not None}
            append(fields)
        return self.finish(out) if self.finish.active else out
