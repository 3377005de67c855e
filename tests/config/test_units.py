"""Size and duration units as users write them (Fluentd and Fluent Bit habits included)."""

from __future__ import annotations

import pytest

from podlog.config.options import parse_duration, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    (512, 512), ("512", 512), ("512b", 512),
    ("64KiB", 64 * 1024), ("64kb", 64_000), ("64KB", 64_000),
    ("8m", 8 * 1024**2), ("8M", 8 * 1024**2), ("8MiB", 8 * 1024**2), ("8MB", 8_000_000),  # Fluentd: 8m is MiB
    ("2g", 2 * 1024**3), ("1GiB", 1024**3), ("1.5MiB", int(1.5 * 1024**2)), (" 4 KiB ", 4096),
])
def test_sizes(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "8 parsecs", "-1k", "1e3", True, "8MiBs"])
def test_bad_sizes_say_what_is_expected(bad: object) -> None:
    with pytest.raises(ValueError, match="size like"):
        parse_size(bad)


@pytest.mark.parametrize(("text", "expected"), [
    (5, 5.0), (0.25, 0.25), ("5", 5.0), ("5s", 5.0), ("250ms", 0.25), ("1m", 60.0), ("2h", 7200.0),
    ("1d", 86400.0), ("0.5s", 0.5), ("10S", 10.0),
])
def test_durations(text: object, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["soon", "5 minutes", "-1s", "", False, "1w"])
def test_bad_durations_say_what_is_expected(bad: object) -> None:
    with pytest.raises(ValueError, match="duration like"):
        parse_duration(bad)
