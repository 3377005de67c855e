from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

COMBINED = (
    b'93.180.71.3 - - [17/May/2015:08:05:32 +0000] "GET /downloads/product_1 HTTP/1.1" 304 0 "-" '
    b'"Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)"'
)
MAIN = (
    b'10.0.0.7 - alice [02/Jan/2024:03:04:05 +0100] "POST /api/v1/items?x=1 HTTP/2.0" 201 512 "https://a.example/" '
    b'"curl/8.5.0" "203.0.113.9, 10.0.0.1"'
)
BARE_XFF = b'10.0.0.7 - - [02/Jan/2024:03:04:05 +0000] "GET / HTTP/1.1" 200 612 "-" "kube-probe/1.29" 203.0.113.9'
COMMON = b'10.0.0.7 - - [02/Jan/2024:03:04:05 +0000] "GET /x HTTP/1.0" 404 -'
LINES = [COMBINED, MAIN, BARE_XFF, COMMON]


def test_combined_format() -> None:
    (rec,) = make("nginx").parse([COMBINED])
    assert rec == {
        "remote": "93.180.71.3", "host": "-", "user": "-", "method": "GET", "path": "/downloads/product_1",
        "code": 304, "size": 0, "referer": "-", "agent": "Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)",
        "@timestamp": "2015-05-17T08:05:32Z",
    }


def test_forwarded_for_quoted_and_bare() -> None:
    main, bare = make("nginx").parse([MAIN, BARE_XFF])
    assert main["http_x_forwarded_for"] == "203.0.113.9, 10.0.0.1"
    assert main["user"] == "alice" and main["code"] == 201 and main["@timestamp"] == "2024-01-02T02:04:05Z"
    assert bare["http_x_forwarded_for"] == "203.0.113.9" and bare["agent"] == "kube-probe/1.29"


def test_common_format_and_dash_size() -> None:
    (rec,) = make("nginx").parse([COMMON])
    assert rec["code"] == 404 and rec["size"] == 0 and "referer" not in rec


def test_odd_requests_go_through_the_regex() -> None:
    empty, spaced = make("nginx", time_key="").parse([
        b'1.2.3.4 - - [02/Jan/2024:03:04:05 +0000] "" 400 0 "-" "-"',
        b'1.2.3.4 - - [02/Jan/2024:03:04:05 +0000] "GET /a b HTTP/1.1" 200 1 "-" "-"',
    ])
    assert "method" not in empty and empty["code"] == 400
    assert spaced["path"] == "/a b"


def test_keep_time_key_uses_the_generic_path() -> None:
    (rec,) = make("nginx", keep_time_key=True).parse([COMBINED])
    assert rec["time"] == "17/May/2015:08:05:32 +0000" and rec["@timestamp"] == "2015-05-17T08:05:32Z"


def test_bad_time_is_reported() -> None:
    (rec,) = make("nginx").parse([COMBINED.replace(b"17/May/2015", b"17/Foo/2015")])
    assert rec["time"] == "17/Foo/2015:08:05:32 +0000" and "time_error" in rec


def test_not_an_access_line() -> None:
    assert isinstance(make("nginx").parse([b"2024/01/02 03:04:05 [error] 7#7: open() failed"])[0], ParseFailure)


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("nginx"), messages)


def test_documents_put_the_record_builders_members_after_the_time() -> None:
    parser = make("nginx")
    head = b'"stream":"stdout",'
    combined, main, bare, common = parser.documents(LINES, [head] * len(LINES))
    assert bare is None  # a bare X-Forwarded-For: the general path
    for doc, rec in zip((combined, main, common), parser.parse([COMBINED, MAIN, COMMON]), strict=True):
        time, _, fields = orjson.dumps(rec).partition(b",")
        assert doc == time + b"," + head + fields
    assert orjson.loads(common) == {
        "@timestamp": "2024-01-02T03:04:05Z", "stream": "stdout", "remote": "10.0.0.7", "host": "-", "user": "-",
        "method": "GET", "path": "/x", "code": 404, "size": 0,
    }


def test_documents_leave_what_needs_the_general_path() -> None:
    parser = make("nginx")
    odd = [
        COMBINED.replace(b"17/May/2015", b"17/Foo/2015"),  # time_error
        COMBINED.replace(b"/downloads", b"/a\\x22b"),  # JSON escaping
        COMBINED.replace(b"Debian", b"Deb\tian"),
        COMBINED.replace(b" 304 0 ", b" 304 007 "),  # an int JSON writes differently
        COMBINED.replace(b" 304 ", b" 999 "),
        COMBINED.replace(b"GET ", b"GET  "),
    ]
    assert parser.documents([*odd, COMBINED], [b""] * 7) == [None] * 6 + [orjson.dumps(parser.parse([COMBINED])[0])]
    assert parser.documents([COMBINED, b"\xff"], [b"", b""]) is None  # invalid UTF-8: marked by the general path
    assert make("nginx", keep_time_key=True).documents([COMBINED], [b""]) is None


@FUZZ
@given(batches(LINES))
def test_documents_are_the_parsed_dicts_serialised(messages: list[bytes]) -> None:
    parser = make("nginx")
    docs = parser.documents(messages, [b""] * len(messages))
    if docs is not None:
        for doc, rec in zip(docs, parser.parse(messages), strict=True):
            assert doc is None or doc == orjson.dumps(rec)


token = st.text(st.characters(blacklist_characters='" \n\r\\', blacklist_categories=("Cs",)), min_size=1, max_size=8)


@FUZZ
@given(
    st.lists(token, min_size=3, max_size=3), token, token, token, st.one_of(st.just("-"), st.integers(0, 999).map(str)),
    st.sampled_from(["", ' "-" "-"', ' "r" "a b"', ' "r" "a" "x, y"', ' "r" "a" xff']),
)
def test_fast_path_agrees_with_the_regex(
    who: list[str], method: str, path: str, proto: str, size: str, tail: str
) -> None:
    line = f'{" ".join(who)} [02/Jan/2024:03:04:05 +0000] "{method} {path} {proto}" 200 {size}{tail}'
    parser = make("nginx", time_key="")
    (fast,) = parser.parse([line.encode()])
    assert fast == parser._slow(line)
