"""Option declarations: ranges checked at load (issue 12, item 5), options without effect reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from podlog.cli import main
from podlog.config.docs import render_reference
from podlog.config.errors import ConfigError
from podlog.config.loader import load_config
from podlog.config.notices import collect
from podlog.config.options import Option, Options, parse_duration, parse_size
from podlog.engine import Engine


def build(tmp_path: Path, text: str, name: str = "agent.yaml") -> Engine:
    path = tmp_path / name
    path.write_text(text)
    return Engine(load_config(str(path)))


def yaml_config(tmp_path: Path, source: str = "", buffer: str = "") -> str:
    return (f"sources:\n  - type: tail\n    path: [{tmp_path}/*.log]\n{source}"
            f"outputs:\n  - type: file\n    path: {tmp_path}/out.ndjson\n    buffer: {{{buffer}}}\n")


@pytest.mark.parametrize(
    ("source", "buffer", "line", "key", "message"),
    [
        ("    max_line_size: 0\n", "", 4, "sources[0].max_line_size", "must be at least 1B, got 0"),
        ("    max_line_size: -1\n", "", 4, "sources[0].max_line_size", "a size cannot be negative, got -1"),
        ("    max_line_size: '-5KiB'\n", "", 4, "sources[0].max_line_size", "expected a size like 64KiB or 8M"),
        ("", "flush_thread_count: 0", 7, "outputs[0].buffer.flush_thread_count", "must be at least 1, got 0"),
        ("", "flush_thread_count: 1000", 7, "outputs[0].buffer.flush_thread_count", "must be at most 256, got 1000"),
        ("", "total_limit_size: 1", 7, "outputs[0].buffer.total_limit_size",
         "must be at least chunk_limit_size (8388608 bytes), got 1 bytes: not even one chunk would fit"),
        ("", "chunk_limit_size: 0", 7, "outputs[0].buffer.chunk_limit_size", "must be at least 1B, got 0"),
        ("", "retry_wait: -1", 7, "outputs[0].buffer.retry_wait", "a duration cannot be negative, got -1"),
    ],
)
def test_out_of_range_values_are_config_errors_naming_file_line_key(
        tmp_path: Path, source: str, buffer: str, line: int, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(tmp_path, yaml_config(tmp_path, source, buffer))
    assert str(info.value).startswith(f"{tmp_path / 'agent.yaml'}:{line}: {key}: {message}"), str(info.value)


def test_ranges_in_fluent_conf_and_podlog_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "fluent.conf"
    conf.write_text(f"<source>\n  @type tail\n  path {tmp_path}/*.log\n  max_line_size 0\n</source>\n"
                    f"<match **>\n  @type file\n  path {tmp_path}/o.ndjson\n  <buffer>\n    flush_thread_count 0\n"
                    "  </buffer>\n</match>\n")
    assert main(["check", "-c", str(conf)]) == 2
    err = capsys.readouterr().err
    assert err == f"podlog: {conf}:10: match.buffer.flush_thread_count: must be at least 1, got '0'\n"
    conf.write_text(conf.read_text().replace("    flush_thread_count 0\n", ""))
    assert main(["check", "-c", str(conf)]) == 2
    assert capsys.readouterr().err == f"podlog: {conf}:4: source.max_line_size: must be at least 1B, got '0'\n"


def test_queue_limit_length_sets_the_total_as_fluentd_does(tmp_path: Path) -> None:
    engine = build(tmp_path, yaml_config(tmp_path, buffer="chunk_limit_size: 2MiB, queue_limit_length: 32"))
    assert engine.runners[0].options.total_limit_size == 64 * 1024 * 1024
    engine = build(tmp_path, yaml_config(tmp_path, buffer="chunk_limit_size: 2MiB, queue_limit_length: 32, "
                                                          "total_limit_size: 8MiB"))
    assert engine.runners[0].options.total_limit_size == 8 * 1024 * 1024  # given: it wins


def test_units_and_bounds_of_the_converters() -> None:
    assert parse_size("8m") == parse_size("8MiB") == 8 * 1024 * 1024
    assert parse_size("2M") == 2 * 1024 * 1024 and parse_size("1kb") == 1000 and parse_size(0) == 0
    assert parse_duration("250ms") == 0.25 and parse_duration("1m") == 60 and parse_duration(2) == 2.0
    for bad in (-1, "-1", "ten"):
        with pytest.raises(ValueError):
            parse_size(bad)
    opt = Option("float", 0.5, min=0, max=1)
    assert opt.convert("1") == 1.0 and opt.range == "0..1"
    with pytest.raises(ValueError, match=r"must be at most 1, got '1\.5'"):
        opt.convert("1.5")
    assert Option("size", 1, min=1024).range == ">= 1KiB" and Option("duration", 1, max=60).range == "<= 60s"
    assert Option("bool", False).convert("") is True  # a bare Fluentd flag (retry_forever)


class _Demo(Options):
    used = Option("int", 1, doc="Does something.")
    legacy = Option("str", "", doc="Fluentd's legacy switch.", ignored="podlog always does the right thing.")


def test_an_option_without_effect_is_reported_where_it_is_set() -> None:
    from podlog.config.errors import Located

    where = Located("f.yaml", 3, "outputs[0]", {"legacy": 5, "used": 4})
    with collect() as notices:
        opts = _Demo.from_mapping({"used": "2", "legacy": "x"}, where, "outputs[0].")
        _Demo.from_mapping({"used": "2"}, where, "outputs[0].")  # not set: nothing to say
    assert (opts.used, opts.legacy) == (2, "x")
    assert [str(n) for n in notices] == [
        "f.yaml:5: outputs[0].legacy: accepted for compatibility, has no effect: podlog always does the right thing."]


def test_check_prints_the_warnings_and_the_agent_logs_them(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    conf = tmp_path / "fluent.conf"
    conf.write_text(f"<source>\n  @type tail\n  path {tmp_path}/*.log\n  emit_unmatched_lines true\n</source>\n"
                    "<match **>\n  @type elasticsearch\n  reload_on_failure true\n  type_name _doc\n"
                    "  <buffer tag>\n    timekey 1h\n  </buffer>\n</match>\n")
    assert main(["check", "-c", str(conf)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"podlog: warning: {conf}:4: source.emit_unmatched_lines: accepted for compatibility, has no effect: "
        "podlog always keeps lines its parser does not match (raw, with a parse error field)",
        f"podlog: warning: {conf}:8: match.reload_on_failure: accepted for compatibility, has no effect: no "
        "sniffing; list every host.",
        f"podlog: warning: {conf}:9: match.type_name: accepted for compatibility, has no effect: Elasticsearch 7+ "
        "and OpenSearch have no mapping types.",
        f"podlog: warning: {conf}:11: match.buffer.timekey: accepted for compatibility, has no effect: chunks are "
        "not split by time; records keep their own time.",
        f"podlog: warning: {conf}:10: match.buffer.chunk_keys: accepted for compatibility, has no effect: chunks "
        "are always split by tag and by nothing else.",
    ]
    Engine(load_config(str(conf)))  # outside `check`: logged as warnings
    assert sum("has no effect" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 5


def test_the_reference_shows_ranges_and_options_without_effect() -> None:
    pages = render_reference()
    agent = pages["agent.md"]
    assert "| `flush_thread_count` | int (1..256) | `1` | Chunks flushed in parallel. |" in agent
    assert "| `timekey` | duration | `0.0` | **No effect** (accepted for compatibility; `podlog check` warns): " \
           "chunks are not split by time; records keep their own time. Fluentd's time slices of chunks. |" in agent
    assert "| `max_line_size` | size (>= 1B) |" in pages["inputs.md"]
    assert "| `reload_on_failure` | bool | `False` | **No effect**" in pages["outputs.md"]
