from __future__ import annotations

import pytest
from hypothesis import given

from podlog.config.errors import ConfigError
from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

LINES = [b'2024-01-02T03:04:05Z,info,"hello, world"', b'2024-01-02T03:04:06Z,warn,"say ""hi"""', b"x,y"]


def test_columns_to_keys() -> None:
    out = make("csv", keys="time,level,msg").parse(LINES[:2])
    assert out == [
        {"level": "info", "msg": "hello, world", "@timestamp": "2024-01-02T03:04:05Z"},
        {"level": "warn", "msg": 'say "hi"', "@timestamp": "2024-01-02T03:04:06Z"},
    ]


def test_short_and_long_rows() -> None:
    out = make("csv", keys=["a", "b", "c"], time_key="").parse([b"1,2", b"1,2,3,4"])
    assert out == [{"a": "1", "b": "2"}, {"a": "1", "b": "2", "c": "3"}]


def test_open_quote_fails_only_its_line() -> None:
    out = make("csv", keys="a,b", time_key="").parse([b'1,"open', b"3,4", b""])
    assert isinstance(out[0], ParseFailure) and out[1] == {"a": "3", "b": "4"} and isinstance(out[2], ParseFailure)


def test_separator_and_no_quoting() -> None:
    out = make("csv", keys="a,b", separator=";", quote_char="", time_key="").parse([b'"x;y'])
    assert out == [{"a": '"x', "b": "y"}]


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="keys: required"):
        make("csv")
    with pytest.raises(ConfigError, match="one character"):
        make("csv", keys="a", delimiter="::")


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("csv", keys="time,level,msg"), messages)
