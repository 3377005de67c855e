from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podlog.parsers._time import TimeParser, fraction, parse_offset

from .helpers import FUZZ


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05.123456789Z"),
        ("2024-01-02T03:04:05.120000Z", "2024-01-02T03:04:05.120Z"),
        ("2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.1234567891234Z", "2024-01-02T03:04:05.123456789Z"),
        ("2024-01-02T03:04:05+08:00", "2024-01-01T19:04:05Z"),
        ("2024-01-02 03:04:05,250", "2024-01-02T03:04:05.250Z"),
        ("2024-01-02T03:04:05-0530", "2024-01-02T08:34:05Z"),
        ("10/Oct/2000:13:55:36 -0700", "2000-10-10T20:55:36Z"),
        ("2024/01/02 03:04:05", "2024-01-02T03:04:05Z"),
        (1704164645, "2024-01-02T03:04:05Z"),
        (1704164645.25, "2024-01-02T03:04:05.250Z"),
    ],
)
def test_auto_formats(value: object, expected: str) -> None:
    assert TimeParser()(value) == expected


@pytest.mark.parametrize("value", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", None, [1], True])
def test_failures_are_none(value: object) -> None:
    parser = TimeParser()
    assert parser(value) is None
    assert parser(value) is None  # and again, from the cache


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("%Y-%m-%d %H:%M:%S.%N", "2024-01-02 03:04:05.000000001", "2024-01-02T03:04:05.000000001Z"),
        ("%Y-%m-%dT%H:%M:%S.%L%z", "2024-01-02T03:04:05.120+0100", "2024-01-02T02:04:05.120Z"),
        ("%d/%b/%Y:%H:%M:%S %z", "02/jan/2024:03:04:05 +0000", "2024-01-02T03:04:05Z"),
        ("%b %d %Y %I:%M:%S %p", "Jan  2 2024 03:04:05 PM", "2024-01-02T15:04:05Z"),
        ("%FT%T%:z", "2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05Z"),
        ("%s", "1704164645", "2024-01-02T03:04:05Z"),
        ("%Y%j %H%M", "2024032 0102", "2024-02-01T01:02:00Z"),
    ],
)
def test_formats(fmt: str, value: str, expected: str) -> None:
    assert TimeParser(fmt)(value) == expected


def test_numeric_types_keep_the_fraction() -> None:
    assert TimeParser("", "float")("1704164645.000000001") == "2024-01-02T03:04:05.000000001Z"
    assert TimeParser("", "unixtime")("-1") == "1969-12-31T23:59:59Z"
    assert TimeParser("", "float")("-0.5") == "1969-12-31T23:59:59.500Z"


def test_default_offset() -> None:
    assert TimeParser("%Y-%m-%d %H:%M:%S", offset=3600)("2024-01-02 03:04:05") == "2024-01-02T02:04:05Z"


def test_unknown_directive() -> None:
    with pytest.raises(ValueError, match="unsupported directive"):
        TimeParser("%Y %Q")


def test_offsets_and_fractions() -> None:
    assert parse_offset("+08:00") == 8 * 3600 and parse_offset("-0530") == -(5 * 3600 + 1800)
    assert parse_offset("Z") == 0
    with pytest.raises(ValueError):
        parse_offset("+99:00")
    assert fraction("5") == ".500" and fraction("1234") == ".123400" and fraction("0000") == ""


@FUZZ
@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none()))
def test_never_raises(value: object) -> None:
    for parser in (TimeParser(), TimeParser("%d/%b/%Y:%H:%M:%S %z"), TimeParser("", "float")):
        result = parser(value)
        assert result is None or (result.endswith("Z") and "T" in result)


@FUZZ
@given(st.datetimes(), st.integers(0, 999_999_999))
def test_rfc3339_round_trip(dt: datetime, ns: int) -> None:
    text = f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}.{ns:09d}Z"
    again = TimeParser()(text)
    assert again is not None and again[:19] == text[:19]
    assert int(again[20:-1].ljust(9, "0") or 0) == ns
