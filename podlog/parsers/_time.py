"""Event times: the shared time options and a cached parser to RFC 3339 UTC strings.

Parsers set ``"@timestamp"`` from a field. Formats follow Fluentd (strftime
codes plus ``%N``/``%L`` fractions) so existing ``<parse>`` sections carry
over. Parsing is done by one compiled regex per format, not ``strptime``: it
keeps nanoseconds, and log lines repeat the same second, so results are
cached by the raw value.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from podlog.config.options import Option, Options

__all__ = ["TimeOptions", "TimeParser", "default_offset", "format_utc", "fraction", "parse_offset"]

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_CACHE_MAX = 4096
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
# Some month names in the grok library are German (Mär, Mai, Okt, Dez).
_MONTHS.update({"mär": 3, "mrz": 3, "mai": 5, "okt": 10, "dez": 12})

# strftime code -> regex; the group names are what _from_fields reads.
_CODES = {
    "Y": r"(?P<Y>[0-9]{4})", "y": r"(?P<y>[0-9]{2})", "C": r"[0-9]{2}",
    "m": r"(?P<m>[0-9]{1,2})", "d": r"(?P<d>[0-9]{1,2})", "e": r" ?(?P<d>[0-9]{1,2})",
    "j": r"(?P<j>[0-9]{1,3})",
    "H": r"(?P<H>[0-9]{1,2})", "k": r" ?(?P<H>[0-9]{1,2})",
    "I": r"(?P<I>[0-9]{1,2})", "l": r" ?(?P<I>[0-9]{1,2})", "p": r"(?P<p>[AaPp][Mm])", "P": r"(?P<p>[AaPp][Mm])",
    "M": r"(?P<M>[0-9]{1,2})", "S": r"(?P<S>[0-9]{1,2})",
    "N": r"(?P<f>[0-9]+)", "L": r"(?P<f>[0-9]+)", "f": r"(?P<f>[0-9]+)",
    "z": r"(?P<z>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)", "Z": r"(?P<Z>[A-Za-z]{1,5}|[+-][0-9]{2}:?[0-9]{2})",
    "b": r"(?P<b>[^\W\d_]{3,})", "h": r"(?P<b>[^\W\d_]{3,})", "B": r"(?P<b>[^\W\d_]{3,})",
    "a": r"[A-Za-z]{3,}", "A": r"[A-Za-z]{3,}", "u": r"[1-7]", "w": r"[0-6]",
    "s": r"(?P<s>-?[0-9]+)", "n": r"\s+", "t": r"\s+", "%": "%",
}
_COMPOSITES = {"T": "%H:%M:%S", "D": "%m/%d/%y", "F": "%Y-%m-%d", "R": "%H:%M", "r": "%I:%M:%S %p"}
_DIRECTIVE = re.compile(r"%(?:[-_0^#]?[0-9]*)(:?[A-Za-z%])")
_RFC3339 = re.compile(
    r"\s*([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}(?::[0-9]{2})?)(?:[.,]([0-9]+))?"
    r"\s*([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?|UTC|GMT)?\s*"
)
_NUMBER = re.compile(r"\s*(-?[0-9]+)(?:\.([0-9]*))?\s*")
# Tried, in order, after RFC 3339 when no time_format is set.
_AUTO_FORMATS = ("%d/%b/%Y:%H:%M:%S %z", "%b %d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%a %b %d %H:%M:%S %Y")


class TimeOptions(Options):
    """Time options shared by the parsers that find an event time (mixed into their Options)."""

    time_key = Option("str", "time", doc="Field holding the event time; it becomes @timestamp. Empty: no time.")
    time_format = Option(
        "str", "",
        doc="strftime format of the time field, plus %N (nanoseconds) and %L (milliseconds) as in Fluentd. "
        "Empty or iso8601: RFC 3339, then the common log, syslog and a few other forms are detected.",
    )
    time_type = Option(
        "str", "string", choices=("string", "unixtime", "float"),
        doc="string: a formatted time; unixtime / float: seconds since the epoch (a fraction is kept).",
    )
    keep_time_key = Option("bool", False, doc="Keep the time field after @timestamp is set from it.")
    utc = Option("bool", True, doc="A time without an offset is UTC; false: the agent's local time.")
    localtime = Option("bool", False, doc="Fluentd's spelling of utc: false (a time without an offset is local).")
    timezone = Option("str", "", doc="Fixed offset such as +08:00 for times without one; overrides utc.")
    estimate_current_event = Option(
        "bool", True, doc="Fluentd: date a record without a time by the time it was read.",
        ignored="a record without a time always gets the read time."
    )


def default_offset(options: Any) -> int | None:
    """Seconds east of UTC for times written without an offset; None: the agent's local time."""
    if options.timezone:
        try:
            return parse_offset(options.timezone)
        except ValueError as exc:
            raise options.error("timezone", str(exc)) from None
    return None if options.localtime or not options.utc else 0


def parse_offset(text: str) -> int:
    """``+08:00``, ``-0530``, ``Z``, ``UTC`` -> seconds east of UTC; ValueError otherwise."""
    t = text.strip()
    if t.upper() in ("Z", "UTC", "GMT"):
        return 0
    m = re.fullmatch(r"([+-])([0-9]{2}):?([0-9]{2})?", t)
    if not m:
        raise ValueError(f"expected an offset like +08:00 or -0530, got {text!r}")
    seconds = int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60
    if seconds >= 86400:
        raise ValueError(f"offset out of range: {text!r}")
    return -seconds if m.group(1) == "-" else seconds


def fraction(digits: str) -> str:
    """Fraction digits -> ``.ddd``, ``.dddddd``, ``.ddddddddd`` or nothing: the fewest that keep them.

    So one instant always gives one string, whatever precision the source had.
    """
    kept = digits[:9].rstrip("0")
    n = len(kept)
    if not n:
        return ""
    return "." + kept.ljust(3 if n <= 3 else 6 if n <= 6 else 9, "0")


def format_utc(dt: datetime, ns: int) -> str:
    """RFC 3339 in UTC, fraction as ``fraction`` gives it."""
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
        f"{fraction(f'{ns:09d}') if ns else ''}Z"
    )


def _fraction_ns(digits: str | None) -> int:
    if not digits:
        return 0
    return int(digits[:9].ljust(9, "0"))


def _epoch_to_utc(seconds: int, ns: int) -> str:
    return format_utc(_EPOCH + timedelta(seconds=seconds), ns)


def _compile_format(fmt: str) -> re.Pattern[str]:
    """A strftime/Fluentd format as one regex; ValueError names an unknown code."""
    out: list[str] = []
    pos = 0
    for m in _DIRECTIVE.finditer(fmt):
        out.append(_literal(fmt[pos:m.start()]))
        code = m.group(1)
        if code == ":z":
            code = "z"
        if code in _COMPOSITES:
            out.append(_compile_format(_COMPOSITES[code]).pattern)
        elif code in _CODES:
            out.append(_CODES[code])
        else:
            raise ValueError(f"time_format: unsupported directive %{code} in {fmt!r}")
        pos = m.end()
    out.append(_literal(fmt[pos:]))
    text = "".join(out)
    try:
        return re.compile(text)
    except re.error:
        raise ValueError(f"time_format: a field appears twice in {fmt!r}") from None


def _literal(text: str) -> str:
    # Like strptime, a space in the format matches any run of whitespace.
    return r"\s+".join(re.escape(part) for part in re.split(r"\s+", text))


class TimeParser:
    """Value -> RFC 3339 UTC string, or None when it does not parse.

    Callers look ``cache`` up inline (the hot path) and call the parser on a miss;
    the parser fills the cache, failures as ``""``. RFC 3339 values skip that
    cache: they are cached per second instead, the fraction added each time.
    """

    def __init__(self, time_format: str = "", time_type: str = "string", offset: int | None = 0) -> None:
        # offset: seconds east of UTC for times that carry none; None means local time.
        self.cache: dict[Any, str] = {}
        # RFC 3339 times rarely repeat (milliseconds), their seconds do: cache those.
        self.seconds: dict[tuple[str, str, str | None], str] = {}
        self.offset = offset
        self.numeric = time_type in ("unixtime", "float")
        self.auto = time_format.strip().lower() in ("", "iso8601", "rfc3339")
        self.formats = [_compile_format(f) for f in (_AUTO_FORMATS if self.auto else (time_format,))]

    @classmethod
    def from_options(cls, options: Any) -> TimeParser:
        """Build from TimeOptions; bad formats or offsets become config errors."""
        try:
            return cls(options.time_format, options.time_type, default_offset(options))
        except ValueError as exc:
            raise options.error("time_format", str(exc)) from None

    def __call__(self, value: Any) -> str | None:
        if self.auto and type(value) is str:
            # RFC 3339 first and without the whole-value cache: with milliseconds
            # nearly every value is new, but its second was seen before.
            m = _RFC3339.fullmatch(value)
            if m is not None:
                date, clock, frac, zone = m.groups()
                prefix = self.seconds.get((date, clock, zone))
                if prefix is None:
                    prefix = self._rfc3339_seconds(date, clock, zone)
                if not prefix:
                    return None
                if not frac:
                    return prefix + "Z"
                if len(frac) == 3 and frac != "000":
                    return f"{prefix}.{frac}Z"
                return f"{prefix}{fraction(frac)}Z"
        try:
            result = self._parse(value) or ""
        except (ValueError, OverflowError, OSError, TypeError):
            result = ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            cache = self.cache
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[value] = result
        return result or None

    def _parse(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return None
        if self.numeric or (self.auto and isinstance(value, (int, float))):
            return self._from_number(value)
        if not isinstance(value, str):
            return None
        for rx in self.formats:
            m = rx.fullmatch(value.strip())
            if m:
                return self._from_fields(m.groupdict())
        return None

    def _from_number(self, value: Any) -> str | None:
        if isinstance(value, int):
            return _epoch_to_utc(value, 0)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return None
            seconds = int(value // 1)
            micros = round((value - seconds) * 1e6)  # a double holds about microseconds at today's epoch
            if micros >= 1_000_000:
                seconds, micros = seconds + 1, 0
            return _epoch_to_utc(seconds, micros * 1000)
        m = _NUMBER.fullmatch(value) if isinstance(value, str) else None
        if not m:
            return None
        seconds, ns = int(m.group(1)), _fraction_ns(m.group(2))
        if m.group(1).startswith("-") and ns:  # -1.25 is 1.25 s before the epoch, and so is -0.x for 0
            seconds, ns = seconds - 1, 1_000_000_000 - ns
        return _epoch_to_utc(seconds, ns)

    def _rfc3339_seconds(self, date: str, clock: str, zone: str | None) -> str:
        """``YYYY-MM-DDTHH:MM:SS`` in UTC (no fraction, no Z) for one second; "" if invalid. Cached."""
        if len(self.seconds) >= _CACHE_MAX:
            self.seconds.clear()
        try:
            y, mo, d = date.split("-")
            h, mi, s = (clock + ":00").split(":")[:3]
            offset = self.offset if zone is None else parse_offset(zone)
            prefix = self._to_utc(int(y), int(mo), int(d), int(h), int(mi), int(s), 0, offset)[:-1]
        except (ValueError, OverflowError, OSError):
            prefix = ""
        self.seconds[(date, clock, zone)] = prefix
        return prefix

    def _from_fields(self, f: dict[str, str | None]) -> str | None:
        if f.get("s") is not None:
            return _epoch_to_utc(int(f["s"] or 0), _fraction_ns(f.get("f")))
        now = datetime.now(_UTC)
        year = _year(f, now)
        month, day = _month_day(f, year, now)
        hour = int(f.get("H") or 0)
        if f.get("I") is not None:
            hour = int(f["I"] or 0) % 12 + (12 if (f.get("p") or "").lower() == "pm" else 0)
        offset = self.offset
        zone = f.get("z") or f.get("Z")
        if zone:
            try:
                offset = parse_offset(zone)
            except ValueError:
                pass  # a zone name we do not know: treat as no offset
        return self._to_utc(
            year, month, day, hour, int(f.get("M") or 0), int(f.get("S") or 0), _fraction_ns(f.get("f")), offset
        )

    def _to_utc(self, y: int, mo: int, d: int, h: int, mi: int, s: int, ns: int, offset: int | None) -> str:
        s = min(s, 59)  # a leap second: datetime has no room for it
        dt = datetime(y, mo, d, h, mi, s)
        if offset is None:
            dt = dt.astimezone(_UTC)
        elif offset:
            dt -= timedelta(seconds=offset)
        return format_utc(dt, ns)


def _year(f: dict[str, str | None], now: datetime) -> int:
    if f.get("Y"):
        return int(f["Y"] or 0)
    if f.get("y"):
        yy = int(f["y"] or 0)
        return 2000 + yy if yy < 69 else 1900 + yy
    # No year (syslog): this year, unless that puts the date well in the future.
    month = _month_number(f.get("b")) if f.get("b") else int(f.get("m") or now.month)
    return now.year - 1 if month > now.month + 1 else now.year


def _month_day(f: dict[str, str | None], year: int, now: datetime) -> tuple[int, int]:
    if f.get("j"):
        day = datetime(year, 1, 1) + timedelta(days=int(f["j"] or 1) - 1)
        return day.month, day.day
    if f.get("b"):
        month = _month_number(f["b"])
    elif f.get("m"):
        month = int(f["m"] or 0)
    else:
        return now.month, now.day
    return month, int(f.get("d") or 1)


def _month_number(name: str | None) -> int:
    month = _MONTHS.get((name or "")[:3].lower())
    if month is None:
        raise ValueError(f"unknown month {name!r}")
    return month
