"""Shared engine of the ``nginx`` and ``apache2`` access log parsers.

In CPython one regex match over a 200-byte line costs more than this whole
parser's fast path (``bench/bench_parsers.py`` shows both), because
``str.split`` runs at memory speed. So a well-formed line is cut with four
splits and a few shape checks, and anything else (escaped quotes, odd
requests, extra fields) goes to a lenient regex. Both paths give the same
fields for a line they both accept (a property test checks it).

``documents`` goes one step further for the record builder: a well-formed
line needs no JSON escaping (no backslash, no control character; quotes are
what it is cut at), so its byte columns are written straight into a
document template, with no str, no dict and no ``dumps`` per line.
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
_STATUS_BYTES = frozenset(str(code).encode() for code in range(100, 600))
_STAMPS_MAX = 4096
# The bytes a JSON string cannot hold as they are. Deleting them (bytes.translate) changes a text's
# length only if it has one: a table lookup per byte, several times faster than a regex search.
_ESCAPED = bytes(range(32)) + b"\\"


def _templates(nginx: bool) -> dict[int, bytes]:
    """Document templates by the line's number of quote-split parts (7 combined, 9 with a quoted
    X-Forwarded-For, 3 common), keys in the order ``parse``'s dicts have them.

    Every template takes the same arguments: time, the record builder's members, then the columns;
    apache2 drops the ident column through a zero-width slot, so one argument list serves both.
    """
    who = b'"remote":"%b","host":"%b","user":"%b",' if nginx else b'"host":"%b",%.0b"user":"%b",'
    common = b'{"@timestamp":"%b",%b' + who + b'"method":"%b","path":"%b","code":%b,"size":%b'
    combined = common + b',"referer":"%b","agent":"%b"'
    out = {3: common + b"}", 7: combined + b"}"}
    if nginx:
        out[9] = combined + b',"http_x_forwarded_for":"%b"}'
    return out


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
    # Every key ``documents`` may write: the record builder checks once that none is one of its own.
    document_keys: ClassVar[frozenset[str]] = frozenset((
        "@timestamp", "remote", "host", "user", "method", "path", "code", "size", "referer", "agent",
        "http_x_forwarded_for",
    ))

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
        self._templates = _templates(self.nginx)
        self._stamps: dict[bytes, bytes] = {}  # '[time] ' column -> @timestamp, b"" if it is not a time

    def documents(self, messages: list[bytes], heads: list[bytes]) -> list[bytes | None] | None:
        """Finished JSON documents, ``{"@timestamp":"<time>",<head>"remote":...}``, one per message.

        ``heads`` are the record builder's own members, each ending with a comma (or empty).
        The bytes are those its general path writes for ``parse``'s dict. A message gets None
        when it needs that path (escaping, an odd shape, a time that does not parse); the whole
        batch gets None for invalid UTF-8 (marked per record there) or non-default time options.
        """
        if not self.inline_time:
            return None
        joined = b" ".join(messages)  # a space ends any partial UTF-8 sequence and needs no escaping
        try:
            joined.decode()
        except UnicodeDecodeError:
            return None
        # Usually no message needs escaping, and the per-line check is skipped.
        plain = len(joined.translate(None, _ESCAPED)) == len(joined)
        templates = self._templates
        nginx = self.nginx
        stamps = self._stamps.get
        stamp = self._stamp
        codes = _STATUS_BYTES
        out: list[bytes | None] = []
        append = out.append
        for line, head in zip(messages, heads, strict=True):
            q = line.split(b'"')
            n = len(q)
            if (
                (n == 7 and not q[6] and q[4] == b" ")
                or (n == 9 and nginx and not q[8] and q[6] == b" " and q[4] == b" ")
                or n == 3
            ) and (plain or len(line.translate(None, _ESCAPED)) == len(line)):
                h = q[0].split(b" ", 3)  # remote, ident, user, '[time] '
                r = q[1].split(b" ")  # method, path, protocol
                c = q[2].split(b" ")  # '', status, size, ''
                if len(h) == 4 and len(r) == 3 and len(c) == (4 if n > 3 else 3) and r[0] and r[1] and not c[0] \
                        and (n == 3 or not c[3]) and c[1] in codes:
                    ts = stamps(h[3])
                    if ts is None:
                        ts = stamp(h[3])
                    size = c[2]
                    if size == b"-":
                        size = b"0"  # as parse() has it: "-" is how servers write "no bytes"
                    # Digits as JSON writes the int: no leading zero, within 64 bits.
                    if ts and size.isdigit() and len(size) < 19 and (size[0] != 48 or len(size) == 1):
                        if n == 7:
                            append(templates[7] % (ts, head, h[0], h[1], h[2], r[0], r[1], c[1], size, q[3], q[5]))
                        elif n == 9:
                            append(templates[9] % (ts, head, h[0], h[1], h[2], r[0], r[1], c[1], size, q[3], q[5],
                                                   q[7]))
                        else:
                            append(templates[3] % (ts, head, h[0], h[1], h[2], r[0], r[1], c[1], size))
                        continue
            append(None)
        return out

    def _stamp(self, column: bytes) -> bytes:
        """@timestamp of a '[time] ' column, through the time parser's cache; cached itself per value."""
        ts = ""
        if column[:1] == b"[" and column[-2:] == b"] ":
            t = column[1:-2].decode()
            times = self.finish.times
            if times is not None:
                cached = times.cache.get(t)
                ts = cached if cached is not None else times(t) or ""
        if len(self._stamps) >= _STAMPS_MAX:
            self._stamps.clear()
        stamp = self._stamps[column] = ts.encode()
        return stamp

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
                    size: int | str = c[2]
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
