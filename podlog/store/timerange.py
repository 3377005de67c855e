"""The API's time parameters: epoch milliseconds, an RFC 3339 date, or Grafana/Kibana relative ``now-15m``."""

from __future__ import annotations

import re

from podlog.store.record import parse_time_us

__all__ = ["BadParameter", "choose_interval_ms", "parse_time_ms"]

_RELATIVE = re.compile(r"^now(?:([+-])(\d+)(ms|s|m|h|d|w|M|y))?$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000,
            "M": 30 * 86_400_000, "y": 365 * 86_400_000}
# Bucket sizes a person reads easily; the histogram takes the smallest giving at most ~120 buckets.
_NICE_MS = [1, 5, 10, 50, 100, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
            900_000, 1_800_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000, 86_400_000,
            7 * 86_400_000, 30 * 86_400_000, 365 * 86_400_000]


class BadParameter(ValueError):
    """A query-string parameter the API refuses (answered 400)."""


def parse_time_ms(value: str | None, now_ms: int, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    value = value.strip()
    m = _RELATIVE.match(value)
    if m:
        if not m.group(1):
            return now_ms
        delta = int(m.group(2)) * _UNIT_MS[m.group(3)]
        return now_ms + delta if m.group(1) == "+" else now_ms - delta
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    us = parse_time_us(value)
    if us is None:
        raise BadParameter(f"{name}: expected epoch milliseconds, an RFC 3339 time or now-15m style, got {value!r}")
    return us // 1000


def choose_interval_ms(span_ms: int) -> int:
    """A bucket size giving 60-120 buckets for ``span_ms`` where a nice size allows it."""
    for nice in _NICE_MS:
        if span_ms / nice <= 120:
            return nice
    return -(-span_ms // 100)
