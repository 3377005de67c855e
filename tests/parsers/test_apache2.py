from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

COMBINED = (
    b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
    b'"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)
COMMON = b'192.168.1.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395'
ESCAPED = b'10.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET /q?s=\\"x\\" HTTP/1.1" 200 - "-" "agent \\"quoted\\""'
LINES = [COMBINED, COMMON, ESCAPED]


def test_combined_format() -> None:
    (rec,) = make("apache2").parse([COMBINED])
    assert rec == {
        "host": "127.0.0.1", "user": "frank", "method": "GET", "path": "/apache_pb.gif", "code": 200, "size": 2326,
        "referer": "http://www.example.com/start.html", "agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
        "@timestamp": "2000-10-10T20:55:36Z",
    }


def test_aliases_and_common_format() -> None:
    assert make("apache").parse([COMMON]) == make("httpd").parse([COMMON])
    (rec,) = make("apache2").parse([COMMON])
    assert rec["host"] == "192.168.1.20" and rec["size"] == 3395 and rec["@timestamp"] == "2006-07-28T13:27:10Z"


def test_escaped_quotes() -> None:
    (rec,) = make("apache2").parse([ESCAPED])
    assert rec["path"] == '/q?s=\\"x\\"' and rec["agent"] == 'agent \\"quoted\\"' and rec["size"] == 0


def test_garbage_fails() -> None:
    assert isinstance(make("apache2").parse([b"[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] denied"])[0],
                      ParseFailure)


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("apache2"), messages)


@FUZZ
@given(batches(LINES))
def test_documents_are_the_parsed_dicts_serialised(messages: list[bytes]) -> None:
    parser = make("apache2")
    docs = parser.documents(messages, [b""] * len(messages))
    if docs is not None:
        for doc, rec in zip(docs, parser.parse(messages), strict=True):
            assert doc is None or doc == orjson.dumps(rec)
    combined, common, escaped = parser.documents(LINES, [b""] * 3) or []
    assert combined == orjson.dumps(parser.parse([COMBINED])[0]) and common is not None and escaped is None


token = st.text(st.characters(blacklist_characters='" \n\r\\', blacklist_categories=("Cs",)), min_size=1, max_size=8)


@FUZZ
@given(st.lists(token, min_size=3, max_size=3), token, token, st.sampled_from(["", ' "-" "-"', ' "r" "a b"']))
def test_fast_path_agrees_with_the_regex(who: list[str], method: str, path: str, tail: str) -> None:
    line = f'{" ".join(who)} [02/Jan/2024:03:04:05 +0000] "{method} {path} HTTP/1.1" 200 5{tail}'
    parser = make("apache2", time_key="")
    (fast,) = parser.parse([line.encode()])
    assert fast == parser._slow(line)
