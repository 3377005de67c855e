"""Fluentd's regular expressions in Python: Ruby's ``(?<name>...)`` groups and the ``/regex/flags`` form.

Public, so that codecs (multiline rules) and filters read a Fluentd regex exactly as the parsers do,
without reaching into the parsers' private helpers.
"""

from __future__ import annotations

import re

__all__ = ["ruby_to_python_regex", "slashed_regex"]

# (?<name>...) in Ruby/Oniguruma is (?P<name>...) in Python; lookbehinds (?<= (?<! stay.
_RUBY_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")
_SLASHED = re.compile(r"/(?P<body>.*)/(?P<flags>[imx]*)", re.S)
_FLAGS = {"i": re.IGNORECASE, "m": re.DOTALL, "x": re.VERBOSE}  # Ruby's /m is Python's DOTALL


def ruby_to_python_regex(expression: str) -> str:
    """Accept Fluentd/Ruby ``(?<name>...)`` groups by turning them into Python's ``(?P<name>...)``."""
    return _RUBY_GROUP.sub("(?P<", expression)


def slashed_regex(text: str, flags: int = 0) -> re.Pattern[str]:
    """A Fluentd regex: ``/regex/flags`` or bare, Ruby's ``(?<name>...)`` accepted. Raises re.error."""
    m = _SLASHED.fullmatch(text.strip())
    if m:
        text = m.group("body")
        for flag in m.group("flags"):
            flags |= _FLAGS[flag]
    return re.compile(ruby_to_python_regex(text), flags)
