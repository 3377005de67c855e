"""The ``nginx`` parser: nginx's default ``combined`` access log format.

``$remote_addr - $remote_user [$time_local] "$request" $status
$body_bytes_sent "$http_referer" "$http_user_agent"``, optionally followed by
``$http_x_forwarded_for`` (quoted, as the official image logs it, or bare).
Field names are Fluentd's, so dashboards built on them keep working.
"""

from __future__ import annotations

import re
from typing import ClassVar

from podlog.config.options import Option
from podlog.parsers._access import AccessLogOptions, AccessLogParser
from podlog.parsers._base import Parser

__all__ = ["NginxParser"]


class NginxParser(AccessLogParser):
    """remote, host, user, time, method, path, code, size, referer, agent, http_x_forwarded_for."""

    name: ClassVar[str] = "nginx"
    nginx: ClassVar[bool] = True
    slow: ClassVar[re.Pattern[str]] = re.compile(
        r'(?P<remote>[^ ]*) (?P<host>[^ ]*) (?P<user>(?:[^ ]| (?!\[))*) \[(?P<time>[^\]]*)\] '
        r'"(?:(?P<method>[^ "]+)(?: +(?P<path>[^"]*?)(?: +[^ "]*)?)?)?" '
        r'(?P<code>[^ "]+) (?P<size>[^ "]+)'
        r'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"'
        r'(?: +(?:"(?P<xff_quoted>[^"]*)"|(?P<xff>[^ "]+)))?)? *'
        r"\Z"
    )

    class Options(Parser.Options, AccessLogOptions):
        time_key = Option("str", "time", doc="Field holding the event time; it becomes @timestamp. Empty: no time.")

    options: Options
