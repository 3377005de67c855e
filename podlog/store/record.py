"""From a record (its JSON bytes) to the columns the store indexes. Shared by the writer and the readers."""

from __future__ import annotations

import calendar
import time
from typing import Any

from podlog.store.schema import KEYWORDS, MESSAGE_KEYS

__all__ = ["lookup", "message_of", "time_us"]

_DAYS: dict[str, int] = {}
_LAST: tuple[str, int] = ("", 0)  # the last second parsed (one tuple: threads swap it whole)


def _epoch_seconds(text: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS`` (or a space for the T) -> epoch seconds; the day's start is cached."""
    day = _DAYS.get(text[:10])
    if day is None:
        if len(_DAYS) > 1024:
            _DAYS.clear()
        day = calendar.timegm(time.strptime(text[:10], "%Y-%m-%d"))
        _DAYS[text[:10]] = day
    if text[10] not in "T " or text[13] != ":" or text[16] != ":":
        raise ValueError(text)
    hours, minutes, seconds = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hours > 23 or minutes > 59 or seconds > 60:
        raise ValueError(text)
    return day + hours * 3600 + minutes * 60 + seconds


def parse_time_us(value: Any) -> int | None:
    """RFC 3339 text (any fraction digits, Z or ±hh:mm) or epoch seconds -> epoch microseconds; None if neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1_000_000) if value < 1e11 else int(value * 1000)  # seconds, or milliseconds
    if not isinstance(value, str) or len(value) < 19:
        return None
    if len(value) == 30 and value[19] == "." and value[29] == "Z":  # CRI's nanoseconds, the common case
        global _LAST
        second, seconds = _LAST  # neighbouring records share their second: parse it once
        try:
            if value[:19] != second:
                second = value[:19]
                seconds = _epoch_seconds(second)
                _LAST = (second, seconds)
            return seconds * 1_000_000 + int(value[20:26])
        except ValueError:
            return None
    try:
        us = _epoch_seconds(value[:19]) * 1_000_000
    except ValueError:
        return None
    rest = value[19:]
    if rest.startswith((".", ",")):
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        digits = rest[1:end]
        if digits:
            us += int((digits + "000000")[:6])
        rest = rest[end:]
    if rest[:1] in ("+", "-") and len(rest) >= 6 and rest[3] == ":":
        sign = 1 if rest[0] == "+" else -1
        us -= sign * (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * 1_000_000
    return us


def time_us(record: dict[str, Any], default: int) -> int:
    """The event time: the record's own ``time``/``timestamp`` when it has one that parses (a JSON log line's
    time), else ``@timestamp`` (the time the runtime or the agent stamped on the line), else ``default``."""
    for key in ("time", "timestamp", "@timestamp"):
        if key in record:
            parsed = parse_time_us(record[key])
            if parsed is not None:
                return parsed
    return default


def lookup(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


def keyword(record: dict[str, Any], name: str) -> str | None:
    for path in KEYWORDS[name]:
        value = lookup(record, path)
        if value is not None and not isinstance(value, (dict, list)):
            return str(value)
    return None


def message_of(record: dict[str, Any]) -> str:
    """The text a hit shows and free text searches: ``message`` (or msg, log), else the record's own fields."""
    for key in MESSAGE_KEYS:
        value = record.get(key)
        if isinstance(value, str):
            return value
    parts = [f"{k}={v}" for k, v in record.items()
             if k not in ("@timestamp", "time", "kubernetes", "stream", "podlog") and not isinstance(v, (dict, list))]
    return " ".join(parts)
