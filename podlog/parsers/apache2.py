"""The ``apache2`` parser: Apache's combined (and common) access log format.

``%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"``. Apache escapes
quotes inside fields as ``\\"``; such lines are handled by the regex path.
"""

from __future__ import annotations

import re
from typing import ClassVar

from podlog.config.options import Option
from podlog.parsers._access import AccessLogOptions, AccessLogParser
from podlog.parsers._base import Parser

__all__ = ["Apache2Parser"]

_QUOTED = r'(?:[^"\\]|\\.)*'


class Apache2Parser(AccessLogParser):
    """host, user, time, method, path, code, size, referer, agent (the ident column is dropped)."""

    name: ClassVar[str] = "apache2"
    aliases: ClassVar[tuple[str, ...]] = ("apache", "httpd")
    nginx: ClassVar[bool] = False
    slow: ClassVar[re.Pattern[str]] = re.compile(
        r"(?P<host>[^ ]*) [^ ]* (?P<user>(?:[^ ]| (?!\[))*) \[(?P<time>[^\]]*)\] "
        rf'"(?:(?P<method>[^ "]+)(?: +(?P<path>{_QUOTED}?)(?: +[^ "]*)?)?)?" '
        r'(?P<code>[^ "]+) (?P<size>[^ "]+)'
        rf'(?: "(?P<referer>{_QUOTED})" "(?P<agent>{_QUOTED})")? *'
        r"\Z"
    )

    class Options(Parser.Options, AccessLogOptions):
        time_key = Option("str", "time", doc="Field holding the event time; it becomes @timestamp. Empty: no time.")

    options: Options
