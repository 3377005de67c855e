from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

LINES = [
    b'time=2024-01-02T03:04:05.5Z level=info msg="request done" path=/api took=12ms',
    b'ts=1704164645 caller=main.go:42 level=error err="dial tcp: \\"db\\" refused" retry',
    b'at=info method=GET path="/" host=example.herokuapp.com fwd="10.0.0.1" dyno=web.1 connect=1ms status=200',
]


def test_pairs_quotes_and_time() -> None:
    (rec,) = make("logfmt").parse([LINES[0]])
    assert rec == {"level": "info", "msg": "request done", "path": "/api", "took": "12ms",
                   "@timestamp": "2024-01-02T03:04:05.500Z"}


def test_escapes_bare_keys_and_empty_values() -> None:
    (rec,) = make("logfmt", time_key="").parse([LINES[1] + b" empty="])
    assert rec["err"] == 'dial tcp: "db" refused' and rec["retry"] is True and rec["empty"] == ""


def test_types() -> None:
    (rec,) = make("logfmt", types="status:integer").parse([LINES[2]])
    assert rec["status"] == 200 and rec["fwd"] == "10.0.0.1"


def test_not_logfmt() -> None:
    out = make("logfmt").parse([b"just some words", b'a="unterminated', b"", b"=x"])
    assert all(isinstance(r, ParseFailure) for r in out)


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("logfmt"), messages)


key = st.text(st.characters(blacklist_characters=' ="\\', blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")),
              min_size=1, max_size=6)


@FUZZ
@given(st.dictionaries(key, st.text(st.characters(blacklist_categories=("Cs",)), max_size=10), min_size=1, max_size=5))
def test_round_trip_of_quoted_values(fields: dict[str, str]) -> None:
    def quote(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    line = " ".join(f"{k}={quote(v)}" for k, v in fields.items())
    (rec,) = make("logfmt", time_key="").parse([line.encode()])
    if "\n" in line or "\r" in line:
        return  # a message is one line; the reader never hands over raw newlines in logfmt
    assert rec == fields
