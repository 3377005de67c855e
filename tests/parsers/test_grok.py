from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from podlog.config.errors import ConfigError
from podlog.parsers._base import ParseFailure
from podlog.parsers.grok import compile_grok, pattern_library

from .helpers import FUZZ, batches, check_contract, make

needs_library = pytest.mark.skipif(not pattern_library(), reason="grok pattern library package not installed")

APACHE = (
    b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
    b'"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)
SIMPLE = b"55.3.244.1 GET /index.html 15824 0.043"
LINES = [APACHE, SIMPLE, b"Feb  5 17:32:18 node-1 sshd[1234]: Accepted publickey"]


def test_custom_patterns_without_the_library() -> None:
    parser = make(
        "grok", pattern="%{ID:id:int}-%{NAME:name} (?<rest>.*)",
        custom_patterns={"ID": "[0-9]+", "NAME": "[a-z]+"},
    )
    ok, bad = parser.parse([b"12-ab tail", b"x"])
    assert ok == {"id": 12, "name": "ab", "rest": "tail"}
    assert isinstance(bad, ParseFailure)


@needs_library
def test_library_patterns_with_types() -> None:
    parser = make("grok", pattern="%{IP:client} %{WORD:method} %{URIPATHPARAM:request} %{NUMBER:bytes:int} "
                                  "%{NUMBER:duration:float}")
    assert parser.parse([SIMPLE]) == [
        {"client": "55.3.244.1", "method": "GET", "request": "/index.html", "bytes": 15824, "duration": 0.043}
    ]


@needs_library
def test_ecs_names_nest_and_time_is_set() -> None:
    (rec,) = make("grok", pattern="%{COMBINEDAPACHELOG}").parse([APACHE])
    assert rec["source"] == {"address": "127.0.0.1"}
    assert rec["http"]["request"]["method"] == "GET"
    assert rec["http"]["response"] == {"status_code": 200, "body": {"bytes": 2326}}
    assert rec["@timestamp"] == "2000-10-10T20:55:36Z" and "timestamp" not in rec


@needs_library
def test_patterns_are_tried_in_order() -> None:
    parser = make("grok", patterns=["%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}"], grok_name_key="grok_index")
    apache, syslog, other = parser.parse([APACHE, LINES[2], b"???"])
    assert apache["grok_index"] == 0 and syslog["grok_index"] == 1
    assert syslog["process"] == {"name": "sshd", "pid": 1234}
    assert isinstance(other, ParseFailure)


@needs_library
def test_every_library_pattern_compiles() -> None:
    library = pattern_library()
    for name in library:
        compile_grok(f"%{{{name}}}", library)


def test_pattern_file(tmp_path: Path) -> None:
    (tmp_path / "mine").write_text("# comment\nLEVEL (?:INFO|WARN)\n\nMSG .*\n")
    parser = make("grok", pattern="%{LEVEL:level} %{MSG:msg}", custom_pattern_path=str(tmp_path))
    assert parser.parse([b"WARN disk"]) == [{"level": "WARN", "msg": "disk"}]


@pytest.mark.parametrize(
    ("options", "needle"),
    [({"pattern": "%{NOPE_NOT_HERE}"}, "unknown grok pattern"),
     ({"pattern": "%{A}", "custom_patterns": {"A": "%{B}", "B": "%{A}"}}, "refers to itself"),
     ({"pattern": "(", "custom_patterns": {}}, "does not compile"),
     ({}, "a grok expression is needed")],
)
def test_config_errors(options: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        make("grok", **options)


@needs_library
@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("grok", patterns=["%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}"]), messages)


def test_fluentd_grok_sections() -> None:
    parser = make("grok", grok=[{"pattern": "a=%{N:a:int}"}, {"pattern": "b=%{N:b}"}], custom_patterns={"N": "[0-9]+"})
    assert parser.parse([b"b=2", b"a=1"]) == [{"b": "2"}, {"a": 1}]
    with pytest.raises(ConfigError, match="sections like"):
        make("grok", grok=[{"nope": 1}])
