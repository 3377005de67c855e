from __future__ import annotations

from hypothesis import given

from .helpers import FUZZ, batches, check_contract, make


def test_whole_line_becomes_message() -> None:
    assert make("none").parse([b"plain text", b""]) == [{"message": "plain text"}, {"message": ""}]


def test_message_key_and_bad_utf8() -> None:
    assert make("none", message_key="log").parse([b"caf\xc3\xa9 \xff"]) == [{"log": "café \ufffd"}]


def test_embedded_newline_and_crlf() -> None:
    out = make("none").parse([b"a\nb", b"c\r", b"d"])
    assert out == [{"message": "a\nb"}, {"message": "c"}, {"message": "d"}]


@FUZZ
@given(batches([b"hello", b"x"]))
def test_never_fails(messages: list[bytes]) -> None:
    out = check_contract(make("none"), messages)
    assert all(isinstance(r, dict) for r in out)
