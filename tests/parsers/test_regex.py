from __future__ import annotations

import pytest
from hypothesis import given

from podlog.config.errors import ConfigError
from podlog.parsers._base import ParseFailure

from .helpers import FUZZ, batches, check_contract, make

EXPR = r"^(?P<time>\S+) (?P<level>[A-Z]+) +(?P<logger>[\w.]+)(?: \[(?P<thread>[^\]]*)\])? - (?P<message>.*)$"
LINES = [
    b"2024-01-02T03:04:05.678Z INFO  com.example.App [main] - Started in 1.2s",
    b"2024-01-02T03:04:06Z ERROR com.example.Db - connection refused",
]


def test_named_groups_become_fields() -> None:
    out = make("regex", expression=EXPR).parse(LINES)
    assert out[0] == {
        "level": "INFO", "logger": "com.example.App", "thread": "main", "message": "Started in 1.2s",
        "@timestamp": "2024-01-02T03:04:05.678Z",
    }
    assert "thread" not in out[1]  # optional group that did not take part


def test_fluentd_ruby_syntax_and_flags() -> None:
    parser = make("regexp", expression=r"/^(?<level>info|warn) (?<msg>.*)$/i", time_key="")
    assert parser.parse([b"INFO hello"]) == [{"level": "INFO", "msg": "hello"}]
    assert isinstance(parser.parse([b"debug x"])[0], ParseFailure)


def test_search_not_anchored_like_fluentd() -> None:
    assert make("regex", expression=r"user=(?P<user>\w+)").parse([b"login ok user=bob ip=1"]) == [{"user": "bob"}]


def test_types() -> None:
    parser = make("regex", expression=r"(?P<code>\d+) (?P<took>[\d.]+)", types={"code": "integer", "took": "float"})
    assert parser.parse([b"200 0.25"]) == [{"code": 200, "took": 0.25}]


@pytest.mark.parametrize(
    ("options", "needle"),
    [({"expression": "(unclosed"}, "invalid regular expression"), ({"expression": "no groups"}, "no named groups"),
     ({"expression": "(?P<a>.)", "types": "a:nonsense"}, "unknown type"),
     ({"expression": "(?P<a>.)", "time_format": "%Q"}, "unsupported directive")],
)
def test_config_errors(options: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        make("regex", **options)


def test_missing_expression_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="expression: required"):
        make("regex")


@FUZZ
@given(batches(LINES))
def test_contract(messages: list[bytes]) -> None:
    check_contract(make("regex", expression=EXPR), messages)


def test_null_options_and_localtime_spelling() -> None:
    parser = make("regex", expression=r"(?P<a>\S*) (?P<b>\S*) (?P<c>\S*)", null_empty_string=True,
                  null_value_pattern="-|N/A", time_key="")
    assert parser.parse([b"- N/A x-y", b" x "]) == [
        {"a": None, "b": None, "c": "x-y"}, {"a": None, "b": "x", "c": None}
    ]
    local = make("regex", expression=r"(?P<time>.+)", localtime=True, timezone="+02:00")
    assert local.parse([b"2024-01-02 03:04:05"]) == [{"@timestamp": "2024-01-02T01:04:05Z"}]
