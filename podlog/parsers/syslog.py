"""The ``syslog`` parser: RFC 3164 (BSD) and RFC 5424 lines, detected per line or fixed.

RFC 3164: ``<PRI>Mmm dd hh:mm:ss host ident[pid]: message`` (the priority is
optional, as in files written by a local syslogd; an RFC 3339 time is accepted
too, as rsyslog writes with high precision on). RFC 5424:
``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] message``; nil values (``-``)
are left out and the structured data is kept as written in ``extradata``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher, decode_lines

__all__ = ["SyslogParser"]

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5",
    "local6", "local7",
)
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_RFC3164 = re.compile(
    r"(?:<(?P<pri>[0-9]{1,3})>)?"
    r"(?P<time>[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+) +"
    r"(?P<host>[^ ]+)(?: +|\Z)"
    r"(?:(?P<ident>[^ :\[\]]+)(?:\[(?P<pid>[^\] ]*)\])?: ?)?"
    r"(?P<message>.*)",
    re.S,
)
_SD = r'\[(?:[^"\]]|"(?:[^"\\]|\\.)*")*\]'
_RFC5424 = re.compile(
    r"<(?P<pri>[0-9]{1,3})>(?P<version>[0-9]{1,2}) +"
    r"(?P<time>[^ ]+) (?P<host>[^ ]+) (?P<ident>[^ ]+) (?P<pid>[^ ]+) (?P<msgid>[^ ]+) "
    rf"(?P<extradata>-|(?:{_SD})+)"
    r"(?: (?P<message>.*))?",
    re.S,
)
_FIELDS_5424 = ("time", "host", "ident", "pid", "msgid", "extradata")


class SyslogParser(Parser):
    """pri, facility, severity, host, ident, pid, msgid, extradata, message; time becomes @timestamp."""

    name: ClassVar[str] = "syslog"

    class Options(Parser.Options, CommonOptions):
        time_key = Option("str", "time", doc="Field name for the header's time; it becomes @timestamp.")
        message_format = Option(
            "str", "auto", choices=("auto", "rfc3164", "rfc5424"),
            doc="auto tells the two apart per line (RFC 5424 has a version after the priority).",
        )
        with_priority = Option("bool", True, doc="Fluentd's switch for a leading <PRI>.",
                               ignored="<PRI> is detected either way.")
        priority_names = Option("bool", True, doc="Add facility and severity names decoded from pri.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.format = options.message_format
        self.names = options.priority_names
        self.finish = Finisher(options)
        self.time_key = options.time_key or "time"

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        fmt = self.format
        match3164 = _RFC3164.fullmatch
        match5424 = _RFC5424.fullmatch
        names = self.names
        time_key = self.time_key
        out: list[Parsed] = []
        append = out.append
        for line in decode_lines(messages):
            m = None
            if fmt != "rfc3164":
                m = match5424(line)
            if m is not None:
                g = m.groupdict()
                fields: dict[str, Any] = {}
                for key in _FIELDS_5424:
                    if g[key] != "-":
                        fields[time_key if key == "time" else key] = g[key]
                message = g["message"]
                if message:
                    fields["message"] = message[1:] if message[0] == "\ufeff" else message  # BOM
            elif fmt != "rfc5424" and (m := match3164(line)) is not None:
                g = m.groupdict()
                fields = {time_key: g["time"], "host": g["host"]}
                if g["ident"] is not None:
                    fields["ident"] = g["ident"]
                if g["pid"] is not None:
                    fields["pid"] = g["pid"]
                fields["message"] = g["message"]
            else:
                append(ParseFailure(f"not a syslog line ({fmt})"))
                continue
            pri = g["pri"]
            if pri is not None:
                value = int(pri)
                if value > 191:
                    append(ParseFailure(f"syslog priority out of range: {value}"))
                    continue
                fields["pri"] = value
                if names:
                    fields["facility"] = FACILITIES[value >> 3]
                    fields["severity"] = SEVERITIES[value & 7]
            append(fields)
        return self.finish(out) if self.finish.active else out
