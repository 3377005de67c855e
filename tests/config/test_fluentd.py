"""fluent.conf: the syntax (fluentd_syntax) and its mapping onto the Config model (fluentd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podlog.buffer.options import BufferOptions
from podlog.config.errors import ConfigError
from podlog.config.fluentd import load_fluentd_text
from podlog.config.fluentd_syntax import Element, parse_fluentd
from podlog.config.loader import load_config
from podlog.config.model import Config
from podlog.config.notices import collect
from podlog.config.options import Option, Options
from podlog.config.yaml_loader import LineDict

FIXTURES = Path(__file__).parent / "fixtures"


def parse(text: str, env: dict[str, str] | None = None, file: str = "fluent.conf") -> Element:
    return parse_fluentd(text, file, env or {})


def load(text: str, env: dict[str, str] | None = None, file: str = "fluent.conf") -> Config:
    return load_fluentd_text(text, file, env or {})


def values(el: Element) -> dict[str, object]:
    return {k: p.value for k, p in el.params.items()}


def lines(value: object) -> dict[str, int]:
    """The per-key lines of a mapping the loader produced (always a LineDict)."""
    assert isinstance(value, LineDict)
    return value.key_lines


def error_of(text: str, env: dict[str, str] | None = None, file: str = "fluent.conf") -> str:
    with pytest.raises(ConfigError) as info:
        load(text, env, file)
    return str(info.value)


TAIL = "<source>\n  @type tail\n  path /x.log\n  tag x\n</source>\n"


# -- syntax


def test_quotes_escapes_and_comments() -> None:
    root = parse(
        "# a comment line\n"
        "<source>\n"
        "  a \"tab\\there \\\"q\\\" # not a comment\"  # a comment\n"
        "  b 'it\\'s \\\\ \\n raw'\n"
        "  c value#kept   # dropped\n"
        "  d    spaced value   \n"
        "  e\n"
        "      # indented comment\n"
        "</source>\n"
    )
    assert values(root.elements[0]) == {
        "a": 'tab\there "q" # not a comment',
        "b": "it's \\ \\n raw",
        "c": "value#kept",
        "d": "spaced value",
        "e": "",
    }
    assert [p.line for p in root.elements[0].params.values()] == [3, 4, 5, 6, 7]


def test_nested_sections_keep_file_and_line() -> None:
    root = parse("<match a.** b.*>\n  @type copy\n  <store>\n    <buffer tag, time>\n    </buffer>\n  </store>\n"
                 "</match>")
    match = root.elements[0]
    assert (match.name, match.arg, match.line) == ("match", "a.** b.*", 1)
    buffer = match.elements[0].elements[0]
    assert (buffer.name, buffer.arg, buffer.line, buffer.file) == ("buffer", "tag, time", 4, "fluent.conf")


def test_json_values_single_and_multi_line() -> None:
    root = parse(
        "<source>\n"
        '  exclude_path ["/var/log/a.log", "/var/log/b.log"]  # comment\n'
        "  hash {\n"
        '    "k": "v#1",  # comment\n'
        '    "n": [1, 2]\n'
        "  }\n"
        "  time_format [%d/%b/%Y:%H:%M:%S %z]\n"
        "  next 1\n"
        "</source>\n"
    )
    assert values(root.elements[0]) == {
        "exclude_path": ["/var/log/a.log", "/var/log/b.log"],
        "hash": {"k": "v#1", "n": [1, 2]},
        "time_format": "[%d/%b/%Y:%H:%M:%S %z]",
        "next": "1",
    }
    assert root.elements[0].params["next"].line == 8


def test_embedded_env() -> None:
    env = {"ES_HOST": "es.svc", "ES_PORT": "9200"}
    root = parse(
        "<match **>\n"
        "  host \"#{ENV['ES_HOST']}\"\n"
        "  port \"#{ENV[\"ES_PORT\"]}\"\n"
        "  user \"#{ENV.fetch('ES_USER', 'elastic')}\"\n"
        "  scheme \"#{ENV['ES_SCHEME'] || 'http'}\"\n"
        "  empty \"x#{ENV['UNSET']}y\"\n"
        "  literal '#{ENV[\"ES_HOST\"]}'\n"
        "</match>\n",
        env,
    )
    assert values(root.elements[0]) == {
        "host": "es.svc", "port": "9200", "user": "elastic", "scheme": "http", "empty": "xy",
        "literal": '#{ENV["ES_HOST"]}',
    }


def test_unsupported_ruby_is_an_error_with_file_and_line() -> None:
    message = error_of("<source>\n  @type tail\n  tag \"#{`hostname`.chomp}\"\n</source>\n", file="/etc/f.conf")
    assert message.startswith("/etc/f.conf:3: ")
    assert "embedded Ruby '#{`hostname`.chomp}' is not supported" in message
    assert "ENV['NAME']" in message


def test_env_fetch_without_default_needs_the_variable() -> None:
    message = error_of("<source>\n  @type tail\n  tag \"#{ENV.fetch('NOPE')}\"\n</source>\n")
    assert message == "fluent.conf:3: environment variable NOPE is not set (ENV.fetch without a default)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<source>\n  @type tail\n<parse>\n</parse>\n", "fluent.conf:1: <source> is not closed (missing </source>)"),
        ("<source>\n</source>\n</match>\n", "fluent.conf:3: </match> closes no open section"),
        ("<match **>\n  <buffer>\n  </match>\n", "fluent.conf:3: </match> does not match <buffer> opened at line 2"),
        ("<source>\n  tag a\n  tag b\n</source>\n", "fluent.conf:3: tag: duplicate parameter (first set at line 2)"),
        ("<source>\n  tag \"a\n</source>\n", "fluent.conf:2: unclosed double-quoted string"),
        ("<source>\n  tag 'a\n</source>\n", "fluent.conf:2: unclosed single-quoted string"),
        ("<source>\n  tag \"a\" b\n</source>\n", "fluent.conf:2: unexpected 'b' after the quoted value"),
        ("<source\n</source>\n", "fluent.conf:1: missing '>' at the end of the section tag"),
        ("<source>\n  re \"\\d+\"\n</source>\n", "fluent.conf:2: unknown escape '\\d' in a double-quoted string"),
        ("<source>\n  a [1,\n  2\n</source>\n", "fluent.conf:2: '[' is never closed"),
    ],
)
def test_syntax_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert str(info.value).startswith(expected)


def test_include_is_relative_to_the_including_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("<match b.**>\n  @type null\n</match>\n")
    (tmp_path / "conf.d" / "a.conf").write_text("<match a.**>\n  @type stdout\n</match>\n")
    (tmp_path / "source.conf").write_text("<source>\n  @type tail\n  tag t\n</source>\n")
    main = tmp_path / "fluent.conf"
    main.write_text('@include source.conf\n@include "conf.d/*.conf"\n@include conf.d/none-*.conf\n')
    monkeypatch.chdir("/")
    config = load_config(str(main))
    assert [s.type for s in config.sources] == ["tail"]
    assert config.sources[0].where.file == str(tmp_path / "source.conf")
    outputs = config.main.outputs
    assert [(o.match, o.type, o.where.file, o.where.line) for o in outputs] == [
        ("a.**", "stdout", str(tmp_path / "conf.d" / "a.conf"), 1),
        ("b.**", "null", str(tmp_path / "conf.d" / "b.conf"), 1),
    ]


def test_include_inside_a_section_and_errors(tmp_path: Path) -> None:
    (tmp_path / "store.conf").write_text("<store>\n  @type stdout\n</store>\n")
    (tmp_path / "param.conf").write_text("host x\n")
    (tmp_path / "loop.conf").write_text("@include fluent.conf\n")
    main = tmp_path / "fluent.conf"
    main.write_text(TAIL + "<match **>\n  @type copy\n  @include store.conf\n</match>\n")
    assert load_config(str(main)).main.outputs[0].stores[0].type == "stdout"

    main.write_text(TAIL + "<match **>\n  @include param.conf\n</match>\n")
    with pytest.raises(ConfigError, match=r"param.conf:1: host: an @include inside <match \*\*> may only hold"):
        load_config(str(main))
    main.write_text(TAIL + "@include loop.conf\n")
    with pytest.raises(ConfigError, match=r"loop.conf:1: @include cycle: .*fluent.conf -> .*loop.conf -> "):
        load_config(str(main))
    # Fluentd's @include is a glob: a missing file includes nothing; podlog says so (a typo stays visible).
    main.write_text(TAIL + "@include missing.conf\n")
    with collect() as notices:
        assert len(load_config(str(main)).sources) == 1
    assert [str(n) for n in notices] == [f"{main}:6: @include: missing.conf: no such file, nothing included "
                                         "(as Fluentd does)"]


def test_the_loader_recognises_fluentd_syntax(tmp_path: Path) -> None:
    path = tmp_path / "fluent.conf"
    path.write_text("# fluentd\n" + TAIL + "<match **>\n  @type stdout\n</match>\n")
    config = load_config(str(path))
    assert config.sources[0].options["path"] == "/x.log"


# -- mapping: seed 000 (sidecar tailing JSON logs into Elasticsearch via a label and copy)


@pytest.fixture
def seed000() -> Config:
    path = FIXTURES / "seed000_sidecar_es.conf"
    return load_fluentd_text(path.read_text(), str(path), {})


def test_seed000_source(seed000: Config) -> None:
    (source,) = seed000.sources
    assert (source.kind, source.type, source.id, source.label) == ("input", "tail", "in_tail_container_logs", "@TO_ES")
    assert source.where.file.endswith("seed000_sidecar_es.conf")
    assert (source.where.line, source.where.path) == (1, "source")
    assert source.options == {
        "path": "/var/log/containers/myapp-namespaces-*.log",
        "pos_file": "/var/log/mynodejs.log.pos",
        "tag": "kubernetes.mynodejs.api_server",
        "parser": {"type": "json", "time_format": "%Y-%m-%dT%H:%M:%S.%NZ"},
        "container_format": "none",
    }
    assert lines(source.options) == {"path": 5, "pos_file": 6, "tag": 7, "parser": 8, "container_format": 1}
    parser = source.options["parser"]
    assert isinstance(parser, LineDict)
    assert (parser.line, lines(parser)) == (8, {"type": 9, "time_format": 10})


def test_seed000_label_copy_stores_and_buffer(seed000: Config) -> None:
    assert seed000.main.filters == [] and seed000.main.outputs == []
    assert list(seed000.labels) == ["@TO_ES"]
    (copy,) = seed000.labels["@TO_ES"].outputs
    assert (copy.kind, copy.type, copy.match, copy.where.line) == ("output", "copy", "kubernetes.*.*", 13)
    es, stdout = copy.stores
    assert (es.type, es.where.line, stdout.type, stdout.where.line) == ("elasticsearch", 15, "stdout", 26)
    assert es.options == {"host": "elasticsearch", "port": "9200", "logstash_format": "true"}
    assert lines(es.options) == {"host": 17, "port": 18, "logstash_format": 20}
    assert es.buffer == {"flush_interval": "1s", "flush_thread_count": "2"}
    assert lines(es.buffer) == {"flush_interval": 22, "flush_thread_count": 23}
    assert es.buffer_where is not None and es.buffer_where.line == 21
    buffer = BufferOptions.from_mapping(es.buffer, es.buffer_where, "")
    assert (vars(buffer)["flush_interval"], vars(buffer)["flush_thread_count"]) == (1.0, 2)
    assert stdout.buffer is None and stdout.options == {"format": "fluentd"}  # Fluentd's "time tag: record"


def test_option_errors_point_at_the_fluent_conf_line(seed000: Config) -> None:
    text = (FIXTURES / "seed000_sidecar_es.conf").read_text().replace("flush_thread_count 2", "flush_thread_count x")
    es = load(text, file="f.conf").labels["@TO_ES"].outputs[0].stores[0]
    assert es.buffer is not None and es.buffer_where is not None
    expected = r"^f.conf:23: label @TO_ES.match.store\[0\].buffer.flush_thread_count: expected an int"
    with pytest.raises(ConfigError, match=expected):
        BufferOptions.from_mapping(es.buffer, es.buffer_where, "")

    class Es(Options):
        host = Option("str", "localhost")
        port = Option("int", 9200)

    with pytest.raises(ConfigError, match=r"seed000_sidecar_es.conf:20: .*logstash_format: unknown option"):
        Es.from_mapping(seed000.labels["@TO_ES"].outputs[0].stores[0].options,
                        seed000.labels["@TO_ES"].outputs[0].stores[0].where, "")


# -- mapping: seed 003 (legacy v0.12 syntax, Stackdriver output)


def test_seed003_legacy_sources_with_stdout() -> None:
    path = FIXTURES / "seed003_stdout.conf"
    config = load_fluentd_text(path.read_text(), str(path), {})
    assert [(s.type, s.options["tag"], s.options["path"], s.options["pos_file"]) for s in config.sources] == [
        ("tail", "count.format1", "/var/log/1.log", "/var/log/1.log.pos"),
        ("tail", "count.format2", "/var/log/2.log", "/var/log/2.log.pos"),
    ]
    first = config.sources[0]
    assert first.options["parser"] == {"type": "none"}
    assert first.options["container_format"] == "none"
    assert lines(first.options) == {"path": 4, "pos_file": 5, "tag": 6, "parser": 3, "container_format": 1}
    assert config.sources[1].where.line == 9
    (out,) = config.main.outputs
    assert (out.type, out.match, out.where.line, out.options) == ("stdout", "**", 17, {"format": "fluentd"})


def test_seed003_google_cloud_is_refused_with_the_supported_outputs() -> None:
    path = FIXTURES / "seed003_google_cloud.conf"
    with pytest.raises(ConfigError) as info:
        load_fluentd_text(path.read_text(), str(path), {})
    message = str(info.value)
    assert message.startswith(f"{path}:17: match: <match **>: @type google_cloud is not supported by podlog")
    for name in ("clickhouse", "copy", "elasticsearch", "file", "http", "null", "stdout"):
        assert name in message


# -- mapping: details


def test_tail_parsers() -> None:
    config = load(
        "<source>\n  @type tail\n  tag a\n  format /^(?<msg>.*)$/\n  time_format %s\n  keep_time_key true\n</source>\n"
        "<source>\n  @type tail\n  tag b\n  <parse>\n    @type cri\n    <parse>\n      @type regexp\n"
        "      expression /^(?<x>.*)$/\n    </parse>\n  </parse>\n</source>\n"
        "<source>\n  @type tail\n  tag c\n  container_format docker\n  <parse>\n    @type none\n  </parse>\n</source>\n"
    )
    a, b, c = (s.options for s in config.sources)
    assert a == {"tag": "a", "parser": {"type": "regex", "expression": "/^(?<msg>.*)$/", "time_format": "%s",
                                        "keep_time_key": "true"}, "container_format": "none"}
    assert lines(a["parser"]) == {"type": 4, "expression": 4, "time_format": 5, "keep_time_key": 6}
    assert b == {"tag": "b", "container_format": "cri", "parser": {"type": "regex", "expression": "/^(?<x>.*)$/"}}
    assert lines(b) == {"tag": 10, "container_format": 11, "parser": 13}
    assert c == {"tag": "c", "container_format": "docker", "parser": {"type": "none"}}


def test_multiline_parser_maps_to_multiline_start_and_concatenated_regex() -> None:
    config = load(
        "<source>\n  @type tail\n  tag a\n  multiline_flush_interval 2s\n  <parse>\n    @type multiline\n"
        "    format_firstline /^\\d{4}-/\n    format1 /^(?<time>\\S+) (?<level>\\w+) /\n"
        "    format2 /(?<message>.*)/\n    time_format %Y-%m-%d\n  </parse>\n</source>\n"
        "<source>\n  @type tail\n  tag b\n  format multiline\n  format_firstline /^x/\n  format1 /^(?<m>.*)/\n"
        "</source>\n"
    )
    a, b = (s.options for s in config.sources)
    assert a["multiline"] == {"type": "regex", "start": "/^\\d{4}-/", "flush_timeout": "2s"}
    assert lines(a["multiline"]) == {"type": 6, "start": 7, "flush_timeout": 4}
    assert a["parser"] == {"type": "regex", "expression": "^(?<time>\\S+) (?<level>\\w+) (?<message>.*)",
                           "multiline": True, "time_format": "%Y-%m-%d"}
    assert lines(a["parser"]) == {"type": 6, "expression": 8, "multiline": 8, "time_format": 10}
    assert "multiline_flush_interval" not in a
    assert b["multiline"] == {"type": "regex", "start": "/^x/"}
    assert b["parser"] == {"type": "regex", "expression": "^(?<m>.*)", "multiline": True}


def test_multiline_parser_errors_name_what_to_write() -> None:
    assert error_of("<source>\n  @type tail\n  format multiline\n  format1 /x/\n</source>\n").startswith(
        "fluent.conf:3: parse.format_firstline: required with multiline")
    assert error_of("<source>\n  @type tail\n  format multiline\n  format_firstline /x/\n</source>\n").startswith(
        "fluent.conf:3: parse.format1: required with multiline")
    assert error_of("<source>\n  @type tail\n  format json\n  format_firstline /x/\n</source>\n").startswith(
        "fluent.conf:3: format: format_firstline goes with format multiline")
    assert "works only in a tail <source>" in error_of(
        TAIL + "<filter **>\n  @type parser\n  key_name log\n  <parse>\n    @type multiline\n"
        "    format_firstline /x/\n    format1 /(?<a>x)/\n  </parse>\n</filter>\n")


def test_cri_parser_params_load_and_unknown_ones_are_refused() -> None:
    with collect() as notices:
        config = load("<source>\n  @type tail\n  <parse>\n    @type cri\n    merge_cri_fields false\n"
                      "    time_format %Y-%m-%dT%H:%M:%S.%N%:z\n  </parse>\n</source>\n")
    assert config.sources[0].options == {"container_format": "cri"}
    assert [str(n) for n in notices] == [
        "fluent.conf:6: parse.time_format: accepted for compatibility, has no effect: podlog reads the CRI time "
        "(RFC 3339) itself",
        "fluent.conf:5: parse.merge_cri_fields: accepted for compatibility, has no effect: stream is always a field "
        "of the record (true, the default, is what podlog does)",
    ]
    message = error_of("<source>\n  @type tail\n  <parse>\n    @type cri\n    keep_time_key true\n  </parse>\n"
                       "</source>\n")
    assert message.startswith("fluent.conf:5: parse.keep_time_key: not supported with @type cri")


def test_filters_and_nested_sections() -> None:
    config = load(
        TAIL
        + "<filter kubernetes.**>\n  @type grep\n  <regexp>\n    key log\n    pattern /ERROR/\n  </regexp>\n"
        "  <exclude>\n    key ns\n    pattern /kube-system/\n  </exclude>\n</filter>\n"
        "<filter **>\n  @type record_transformer\n  @log_level warn\n  <record>\n    host \"#{ENV['NODE']}\"\n"
        "  </record>\n</filter>\n"
        "<filter **>\n  @type parser\n  key_name log\n  format json\n</filter>\n",
        {"NODE": "n1"},
    )
    grep, record, parser = config.main.filters
    assert (grep.kind, grep.type, grep.match) == ("filter", "grep", "kubernetes.**")
    assert grep.options == {"regexp": [{"key": "log", "pattern": "/ERROR/"}],
                            "exclude": [{"key": "ns", "pattern": "/kube-system/"}]}
    assert lines(grep.options) == {"regexp": 8, "exclude": 12}
    assert lines(grep.options["exclude"][0]) == {"key": 13, "pattern": 14}
    assert record.options == {"record": {"host": "n1"}}
    assert parser.options == {"key_name": "log", "parser": {"type": "json"}}


def test_output_types_and_buffer_chunk_keys() -> None:
    config = load(
        TAIL
        + "<match a>\n  @type opensearch\n  <buffer tag, time>\n    @type file\n    path /b\n  </buffer>\n</match>\n"
        "<match b>\n  @type elasticsearch_data_stream\n  data_stream_name logs\n</match>\n"
        "<match c>\n  type file\n  path /out\n  format json\n</match>\n"
    )
    os_, ds, file_ = config.main.outputs
    assert (os_.type, os_.buffer) == ("elasticsearch", {"type": "file", "path": "/b", "chunk_keys": ["tag", "time"]})
    assert os_.buffer is not None and lines(os_.buffer) == {"type": 9, "path": 10, "chunk_keys": 8}
    # The data stream is data_stream_name (there is no data_stream option: that translation was refused as unknown).
    assert (ds.type, ds.options) == ("elasticsearch", {"data_stream_name": "logs"})
    message = error_of(TAIL + "<match b>\n  @type elasticsearch_data_stream\n</match>\n")
    assert message == "fluent.conf:6: match: <match b>: @type elasticsearch_data_stream needs data_stream_name"
    assert (file_.type, file_.options) == ("file", {"path": "/out"})  # it writes JSON lines anyway


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<source>\n  @type kafka\n</source>\n", "fluent.conf:1: source: <source>: @type kafka is not supported"),
        (TAIL + "<filter **>\n  @type concat\n</filter>\n", "fluent.conf:6: filter: <filter **>: @type concat"),
        (TAIL + "<match **>\n  @type s3\n</match>\n", "fluent.conf:6: match: <match **>: @type s3 is not"),
        (TAIL + "<match **>\n  path x\n</match>\n", "fluent.conf:6: match: <match **>: @type is required"),
        (TAIL + "<match **>\n  @type copy\n</match>\n", "fluent.conf:6: match: <match **>: @type copy needs"),
        ("<source>\n  @type tail\n  @label @NOPE\n</source>\n", "fluent.conf:3: source.@label: @label @NOPE is not"),
        (TAIL + "<label OUT>\n</label>\n", "fluent.conf:6: label: <label OUT>: a label name starts with @"),
        (TAIL + "<label @A>\n  <source>\n  </source>\n</label>\n", "fluent.conf:7: <source> is not allowed in"),
        (TAIL + "<filter **>\n  @type grep\n  <buffer>\n  </buffer>\n</filter>\n", "fluent.conf:8: filter: <buffer>"),
        ("tag x\n" + TAIL, "fluent.conf:1: tag: parameter outside any section"),
        ("<match **>\n  @type stdout\n</match>\n", "fluent.conf:1: at least one <source> is required"),
        (TAIL + "<worker 0>\n</worker>\n", "fluent.conf:6: <worker> is not supported"),
        (TAIL + "<system>\n  workers 4\n</system>\n", "fluent.conf:7: workers: podlog runs one process"),
        (TAIL + "<system>\n  without_source true\n</system>\n", "fluent.conf:7: without_source: not supported"),
        (TAIL + "<system>\n  log_level loud\n</system>\n", "fluent.conf:7: log_level: expected one of"),
    ],
)
def test_mapping_errors(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_system_and_extra_labels() -> None:
    config = load(
        "<system>\n  log_level warn\n  workers 1\n  root_dir /var/lib/podlog\n  suppress_repeated_stacktrace true\n"
        "  <log>\n    format json\n  </log>\n</system>\n"
        + TAIL
        + "<label @ERROR>\n  <match **>\n    @type stdout\n  </match>\n</label>\n"
        "<label @FLUENT_LOG>\n  <match fluent.*>\n    @type null\n  </match>\n</label>\n"
    )
    assert (config.agent.log_level, config.agent.data_dir) == ("warning", "/var/lib/podlog")
    assert list(config.labels) == ["@ERROR", "@FLUENT_LOG"]
    assert config.labels["@FLUENT_LOG"].outputs[0].where.path == "label @FLUENT_LOG.match"


def test_types_podlog_has_not_built_are_refused_with_what_exists() -> None:
    message = error_of("<source>\n  @type exec\n  command date\n</source>\n")
    assert message.startswith("fluent.conf:1: source: <source>: @type exec is not supported by podlog; "
                              "supported input types: forward, http, syslog, tail")
    message = error_of(TAIL + "<match **>\n  @type forward\n</match>\n")
    assert "@type forward is not supported" in message and "null" in message and "forward," not in message


def test_null_output_discards_and_acknowledges() -> None:
    from podlog.batch import Batch
    from podlog.engine import build_plugin
    from podlog.outputs._base import Chunk, Status

    config = load(TAIL + "<match debug.**>\n  @type null\n</match>\n")
    output = build_plugin(config.main.outputs[0])
    chunk = Chunk("debug.x", 0.0)
    chunk.add(Batch("debug.x", docs=[b'{"m":1}']), 8)
    assert output.name == "null" and output.write(chunk).status is Status.DELIVERED
