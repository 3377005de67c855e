from __future__ import annotations

from hypothesis import given

from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

LINES = [b"2024-01-02T03:04:05Z\tinfo\tstarted", b"2024-01-02T03:04:06Z\terror\t\"quotes\" stay"]


def test_tabs_by_default() -> None:
    out = make("tsv", keys="time,level,msg").parse(LINES)
    assert out == [
        {"level": "info", "msg": "started", "@timestamp": "2024-01-02T03:04:05Z"},
        {"level": "error", "msg": '"quotes" stay', "@timestamp": "2024-01-02T03:04:06Z"},
    ]


def test_multi_character_delimiter() -> None:
    out = make("delimiter", keys=["a", "b"], delimiter=" | ", time_key="").parse([b"x | y | z", b""])
    assert out[0] == {"a": "x", "b": "y"} and isinstance(out[1], ParseFailure)


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("delimiter", keys="time,level,msg"), messages)
