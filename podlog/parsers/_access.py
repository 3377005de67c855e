"""Shared engine of the ``nginx`` and ``apache2`` access log parsers.

In CPython one regex match over a 200-byte line costs more than this whole
parser's fast path (``bench/bench_parsers.py`` shows both), because
``str.split`` runs at memory speed. So a well-formed line is cut with four
splits and a few shape checks, and anything else (escaped quotes, odd
requests, extra fields) goes to a lenient regex. Both paths give the same
fields for a line they both accept (a property test checks it).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import TIME_ERROR, CommonOptions, Finisher, decode_lines

__all__ = ["AccessLogOptions", "AccessLogParser"]

COMMON_LOG_TIME = "%d/%b/%Y:%H:%M:%S %z"


class AccessLogOptions(CommonOptions):
    """Time options with the common log format's time as the default."""

    time_format = Option("str", COMMON_LOG_TIME, doc="Format of the [time] field (the common log format's).")


_STATUS = {str(code): code for code in range(100, 600)}


def _number(text: str) -> Any:
    """Digits as an int; anything else is kept as written."""
    try:
        return int(text) if text.isascii() else text
    except ValueError:
        return text


class AccessLogParser(Parser):
    """Combined/common log format lines to fields; ``code`` and ``size`` as integers."""

    # nginx names the client "remote" and keeps the ident column as "host";
    # apache2 names the client "host" and drops ident (Fluentd's field names).
    nginx: ClassVar[bool] = True
    slow: ClassVar[re.Pattern[str]]

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        self.finish = Finisher(options)
        # The usual setup (time from "time", no types) is done inside the loop;
        # anything else goes through the generic finishing pass.
        self.inline_time = (
            options.time_key == "time" and not options.keep_time_key and not self.finish.converters
            and not self.finish.nulls
        )
        if self.inline_time:
            self.finish.time_key = ""

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        out: list[Parsed] = []
        append = out.append
        nginx = self.nginx
        escapes = not nginx  # Apache writes \\" inside quoted fields: such lines need the regex
        inline = self.inline_time
        times = self.finish.times
        cached = times.cache.get if times is not None else {}.get
        codes = _STATUS.get
        slow = self._slow
        for line in decode_lines(messages):
            q = line.split('"')
            n = len(q)
            rec: Any = None
            # 7 parts: combined; 9: combined + "$http_x_forwarded_for"; 3: common.
            if (
                (n == 7 and not q[6] and q[4] == " ")
                or (n == 9 and nginx and not q[8] and q[6] == " " and q[4] == " ")
                or n == 3
            ):
                h = q[0].split(" ", 3)  # remote, ident, user, '[time] '
                r = q[1].split(" ")  # method, path, protocol
                c = q[2].split(" ")  # '', status, size, ''
                if (
                    len(h) == 4 and len(r) == 3 and len(c) == (4 if n > 3 else 3) and h[3][:1] == "["
                    and h[3][-2:] == "] " and r[0] and r[1] and not c[0] and (n == 3 or not c[3])
                    and not (escapes and "\\" in line)
                ):
                    t = h[3][1:-2]
                    tkey = "time"
                    if inline:
                        ts = cached(t)
                        if ts is None:
                            ts = times(t) or ""  # type: ignore[misc]
                        if ts:
                            tkey, t = "@timestamp", ts
                    code = codes(c[1])
                    if code is None:
                        code = _number(c[1])
                    size = c[2]
                    try:
                        size = int(size)
                    except ValueError:
                        size = 0 if size == "-" else size
                    # The time first: it leads the document, so the codec can write this dict as it is.
                    if nginx:
                        rec = {tkey: t, "remote": h[0], "host": h[1], "user": h[2], "method": r[0], "path": r[1],
                               "code": code, "size": size}
                    else:
                        rec = {tkey: t, "host": h[0], "user": h[2], "method": r[0], "path": r[1],
                               "code": code, "size": size}
                    if n > 3:
                        rec["referer"] = q[3]
                        rec["agent"] = q[5]
                        if n == 9:
                            rec["http_x_forwarded_for"] = q[7]
                    if inline and tkey == "time":
                        rec[TIME_ERROR] = f"cannot parse time {t[:64]!r}"
                    append(rec)
                    continue
            rec = slow(line)
            if inline and type(rec) is dict:
                t = rec["time"]
                ts = cached(t)
                if ts is None:
                    ts = times(t) or ""  # type: ignore[misc]
                if ts:
                    rec["@timestamp"] = ts
                    del rec["time"]
                else:
                    rec[TIME_ERROR] = f"cannot parse time {t[:64]!r}"
            append(rec)
        return self.finish(out) if self.finish.active else out

    def _slow(self, line: str) -> Parsed:
        m = self.slow.match(line)
        if m is None:
            return ParseFailure(f"does not match the {self.name} access log format")
        g = m.groupdict()
        if self.nginx:
            rec: dict[str, Any] = {"remote": g["remote"], "host": g["host"]}
        else:
            rec = {"host": g["host"]}
        rec["user"] = g["user"]
        rec["time"] = g["time"]
        for key in ("method", "path"):
            if g[key] is not None:
                rec[key] = g[key]
        rec["code"] = _number(g["code"])
        size = g["size"]
        rec["size"] = 0 if size == "-" else _number(size)  # "-" is how servers write "no bytes"
        if g["referer"] is not None:
            rec["referer"] = g["referer"]
            rec["agent"] = g["agent"]
        xff = g.get("xff_quoted") if g.get("xff_quoted") is not None else g.get("xff")
        if xff is not None:
            rec["http_x_forwarded_for"] = xff
        return rec
