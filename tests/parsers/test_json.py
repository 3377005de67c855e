from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

LINES = [
    b'{"level":"info","msg":"started","port":8080}',
    b'{"time":"2024-01-02T03:04:05.123456789Z","level":"warn","msg":"slow","took_ms":1532}',
    b'{"ts":1704164645.5,"caller":"main.go:12","msg":"ok"}',
    b'{"nested":{"a":[1,2,{"b":null}]},"s":"\\u00e9\\n"}',
]


def test_object_without_time_is_passed_through_as_bytes() -> None:
    out = make("json").parse([LINES[0], LINES[3]])
    assert out == [LINES[0], LINES[3]]


def test_surrounding_whitespace_is_trimmed_from_the_bytes() -> None:
    assert make("json").parse([b'  {"a":1}\r']) == [b'{"a":1}']


def test_time_key_sets_timestamp_and_is_dropped() -> None:
    (rec,) = make("json").parse([LINES[1]])
    assert rec == {"level": "warn", "msg": "slow", "took_ms": 1532, "@timestamp": "2024-01-02T03:04:05.123456789Z"}


def test_keep_time_key_and_custom_format() -> None:
    parser = make("json", time_key="t", time_format="%d/%m/%Y %H:%M:%S.%L", keep_time_key=True)
    (rec,) = parser.parse([b'{"t":"02/01/2024 03:04:05.120","x":1}'])
    assert rec == {"t": "02/01/2024 03:04:05.120", "x": 1, "@timestamp": "2024-01-02T03:04:05.120Z"}


def test_epoch_times() -> None:
    (a,) = make("json", time_key="ts").parse([LINES[2]])
    assert a["@timestamp"] == "2024-01-02T03:04:05.500Z"
    (b,) = make("json", time_key="ts", time_type="unixtime").parse([b'{"ts":"1704164645"}'])
    assert b["@timestamp"] == "2024-01-02T03:04:05Z"


def test_unparsable_time_is_kept_with_an_error() -> None:
    (rec,) = make("json").parse([b'{"time":"yesterday","msg":"x"}'])
    assert rec["time"] == "yesterday" and rec["msg"] == "x" and "yesterday" in rec["time_error"]
    assert "@timestamp" not in rec


def test_escaped_time_key_is_still_found() -> None:
    (rec,) = make("json").parse([b'{"ti\\u006de":"2024-01-02T03:04:05Z"}'])
    assert rec == {"@timestamp": "2024-01-02T03:04:05Z"}


def test_types_force_a_dict() -> None:
    out = make("json", types="code:integer,ok:bool").parse([b'{"code":"404","ok":"true","x":1}', b'{"y":2}'])
    assert out == [{"code": 404, "ok": True, "x": 1}, b'{"y":2}']


def test_failures() -> None:
    out = make("json").parse([b"[1,2]", b"42", b"not json", b"", b'{"a":1', b'{"a":NaN}'])
    assert all(isinstance(r, ParseFailure) for r in out)
    assert out[0].reason == "not a JSON object"


def test_invalid_utf8_is_replaced_not_spliced() -> None:
    (rec,) = make("json").parse([b'{"msg":"bad \xff byte"}'])
    assert rec == {"msg": "bad \ufffd byte"}


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("json"), messages)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_round_trip(doc: dict[str, object]) -> None:
    raw = orjson.dumps(doc)
    (out,) = make("json", time_key="").parse([raw])
    assert out == raw
    assert orjson.loads(out) == doc


def test_null_options_turn_every_line_into_a_dict() -> None:
    out = make("json", null_value_pattern="-", time_key="").parse([b'{"a":"-","b":"x"}', b"[]"])
    assert out[0] == {"a": None, "b": "x"} and isinstance(out[1], ParseFailure)


def test_mixed_batch_switches_between_bytes_and_dicts() -> None:
    lines = [LINES[1], LINES[0], LINES[1], LINES[1], b" " + LINES[0], b"[]", LINES[1], b"{bad", LINES[0]]
    out = make("json").parse(lines)
    assert [type(r).__name__ for r in out] == [
        "dict", "bytes", "dict", "dict", "bytes", "ParseFailure", "dict", "ParseFailure", "bytes"
    ]
    assert out[4] == LINES[0]
