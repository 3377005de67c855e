"""parser filter: one field through any podlog parser, a whole batch per call; never drops."""

from __future__ import annotations

import pytest

from tests.filters.helpers import fluent_filter, run, yaml_filter

TS = "2024-05-01T12:00:00Z"
RECORDS = [
    {"@timestamp": TS, "log": '{"level":"info","msg":"ok","n":1}', "stream": "stdout"},
    {"@timestamp": TS, "log": "not json at all", "stream": "stderr"},
    {"@timestamp": TS, "stream": "stdout"},
    {"@timestamp": TS, "log": {"already": "parsed"}},
]


def test_fluentd_parse_section_default_replaces_the_record_and_keeps_failures_raw() -> None:
    flt = fluent_filter("<filter **>\n  @type parser\n  key_name log\n  <parse>\n    @type json\n  </parse>\n"
                        "</filter>\n")
    ok, bad, missing, nested = run(flt, RECORDS)
    assert ok == {"@timestamp": TS, "level": "info", "msg": "ok", "n": 1}
    assert bad == {**RECORDS[1], "parse_error": bad["parse_error"]} and "JSON" in bad["parse_error"]
    assert missing == {**RECORDS[2], "parse_error": "no field 'log'"}
    assert nested["parse_error"] == "field 'log' is not a string"


@pytest.mark.parametrize("as_docs", [True, False])
def test_reserve_data_remove_key_prefix_and_hash_value_field(as_docs: bool) -> None:
    flt = yaml_filter("  - type: parser\n    key_name: log\n    parser: json\n    reserve_data: true\n"
                      "    remove_key_name_field: true\n    inject_key_prefix: app_\n")
    [ok] = run(flt, RECORDS[:1], as_docs=as_docs)
    assert ok == {"@timestamp": TS, "stream": "stdout", "app_level": "info", "app_msg": "ok", "app_n": 1}
    flt = yaml_filter("  - type: parser\n    key_name: log\n    parser: {type: json}\n    hash_value_field: parsed\n"
                      "    reserve_data: true\n")
    [ok] = run(flt, RECORDS[:1], as_docs=as_docs)
    assert ok["parsed"] == {"level": "info", "msg": "ok", "n": 1} and ok["log"] == RECORDS[0]["log"]


def test_parsed_time_wins_unless_reserve_time_and_legacy_format() -> None:
    conf = ("<filter **>\n  @type parser\n  key_name $.kubernetes.line\n  format /^(?<time>[^ ]+) (?<text>.*)$/\n"
            "  time_format %Y-%m-%dT%H:%M:%S%z\n{extra}</filter>\n")
    record = {"@timestamp": TS, "kubernetes": {"line": "2020-01-02T03:04:05+0000 hello"}}
    [out] = run(fluent_filter(conf.format(extra="")), [record])
    assert out["text"] == "hello" and out["@timestamp"].startswith("2020-01-02T03:04:05")
    [out] = run(fluent_filter(conf.format(extra="  reserve_time true\n")), [record])
    assert out["@timestamp"] == TS and out["text"] == "hello"


def test_unmarked_failures_when_asked_and_regex_parser() -> None:
    flt = yaml_filter("  - type: parser\n    key_name: log\n    emit_invalid_record_to_error: false\n"
                      "    reserve_data: true\n"
                      "    parser: {type: regex, expression: '^(?<word>\\w+) (?<rest>.*)$'}\n")
    _, bad, missing, nested = run(flt, RECORDS)
    assert bad == {**RECORDS[1], "word": "not", "rest": "json at all"}
    assert missing == RECORDS[2] and nested == RECORDS[3]  # kept, unmarked
