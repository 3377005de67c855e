"""Every Fluentd translation builds the plugin it names (issue 8's bug).

``@type elasticsearch_data_stream`` used to become ``data_stream: true``, an
option the Elasticsearch output does not have: asserting the translated
dict passed, every real config with it was refused. Here each Fluentd type
podlog accepts, each parser translation and each legacy form is loaded AND
built (the Engine converts every option), and the list of types is checked
against the translation tables, so a new translation needs a case here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podlog.config.fluentd import FILTER_TYPES, INPUT_TYPES, OUTPUT_TYPES, PARSER_TYPES, supported_type
from podlog.config.fluentd import load_fluentd_text as load
from podlog.config.notices import collect
from podlog.engine import Engine

SOURCE = "<source>\n  @type tail\n  path /var/log/x/*.log\n  tag app\n{parse}</source>\n"
MATCH = "<match **>\n  @type null\n</match>\n"

# Fluentd type -> the section using it (with what that plugin requires).
SECTIONS: dict[tuple[str, str], str] = {
    ("input", "tail"): "",  # SOURCE itself
    ("input", "forward"): "<source>\n  @type forward\n  port 24224\n  <security>\n    self_hostname n1\n"
                          "    shared_key k\n  </security>\n</source>\n",
    ("input", "http"): "<source>\n  @type http\n  port 9880\n  bind 127.0.0.1\n</source>\n",
    ("input", "syslog"): "<source>\n  @type syslog\n  port 5140\n  tag system\n  <transport tcp>\n  </transport>\n"
                         "</source>\n",
    ("filter", "grep"): "<filter **>\n  @type grep\n  <regexp>\n    key log\n    pattern /x/\n  </regexp>\n</filter>\n",
    ("filter", "record_transformer"): "<filter **>\n  @type record_transformer\n  <record>\n    a b\n  </record>\n"
                                      "</filter>\n",
    ("filter", "parser"): "<filter **>\n  @type parser\n  key_name log\n  <parse>\n    @type json\n  </parse>\n"
                          "</filter>\n",
    ("filter", "kubernetes_metadata"): "<filter **>\n  @type kubernetes_metadata\n</filter>\n",
    ("filter", "prometheus"): "<filter **>\n  @type prometheus\n  <metric>\n    name app_lines\n    type counter\n"
                              "    desc Lines.\n  </metric>\n</filter>\n",
    ("filter", "throttle"): "<filter **>\n  @type throttle\n  group_bucket_limit 10\n</filter>\n",
    ("filter", "sample"): "<filter **>\n  @type sample\n  interval 10\n</filter>\n",
    ("filter", "sampling"): "<filter **>\n  @type sampling\n  interval 10\n</filter>\n",
    ("filter", "rewrite_tag_filter"): "<filter **>\n  @type rewrite_tag_filter\n  <rule>\n    key log\n"
                                      "    pattern /x/\n    tag y\n  </rule>\n</filter>\n",
    ("output", "stdout"): "<match **>\n  @type stdout\n</match>\n",
    ("output", "file"): "<match **>\n  @type file\n  path /tmp/podlog-test/out\n  format json\n</match>\n",
    ("output", "elasticsearch"): "<match **>\n  @type elasticsearch\n  host es\n</match>\n",
    ("output", "opensearch"): "<match **>\n  @type opensearch\n  host os\n</match>\n",
    ("output", "elasticsearch_data_stream"): "<match **>\n  @type elasticsearch_data_stream\n"
                                             "  data_stream_name logs-app-default\n</match>\n",
    ("output", "http"): "<match **>\n  @type http\n  url http://collector:8080/logs\n</match>\n",
    ("output", "null"): MATCH,
    ("output", "copy"): "<match **>\n  @type copy\n  <store>\n    @type null\n  </store>\n</match>\n",
    ("output", "clickhouse"): "<match **>\n  @type clickhouse\n</match>\n",
    ("output", "rewrite_tag_filter"): "<match **>\n  @type rewrite_tag_filter\n  <rule>\n    key log\n"
                                      "    pattern /x/\n    tag y\n  </rule>\n</match>\n",
}

# Parser translations: <parse> bodies of a tail source.
PARSES: dict[str, str] = {
    "regexp": "  <parse>\n    @type regexp\n    expression /^(?<a>.*)$/\n  </parse>\n",
    "/regex/ as @type": "  <parse>\n    @type /^(?<time>.+) (?<stream>stdout|stderr) [^ ]* (?<log>.*)$/\n"
                        "    time_format %Y-%m-%dT%H:%M:%S.%N%:z\n  </parse>\n",
    "format /regex/ (v0.12)": "  format /^(?<a>.*)$/\n  time_format %d/%b/%Y:%H:%M:%S %z\n",
    "format json (v0.12)": "  format json\n",
    "multiline": "  <parse>\n    @type multiline\n    format_firstline /^\\d/\n    format1 /^(?<m>.*)/\n"
                 "  </parse>\n  multiline_flush_interval 5s\n",
    "cri": "  <parse>\n    @type cri\n    time_format %Y-%m-%dT%H:%M:%S.%N%:z\n    merge_cri_fields true\n"
           "  </parse>\n",
    "cri with a nested parse": "  <parse>\n    @type cri\n    <parse>\n      @type json\n    </parse>\n  </parse>\n",
    "multi_format": "  <parse>\n    @type multi_format\n    <pattern>\n      format json\n      time_key time\n"
                    "    </pattern>\n    <pattern>\n      format /^(?<log>.*)$/\n    </pattern>\n  </parse>\n",
    "kubernetes": "  <parse>\n    @type kubernetes\n  </parse>\n  multiline_flush_interval 5s\n",
    "none": "  <parse>\n    @type none\n  </parse>\n",
}

# Legacy forms of a <match>: v0.12 buffer parameters, log_level without @, a bare flag.
LEGACY_MATCH = ("<match **>\n  @type elasticsearch\n  log_level info\n  buffer_chunk_limit 2M\n  buffer_queue_limit 8\n"
                "  flush_interval 5s\n  max_retry_wait 30\n  disable_retry_limit\n  num_threads 2\n</match>\n")




def test_every_supported_fluentd_type_has_a_case() -> None:
    supported = {(kind, t) for kind, table in (("input", INPUT_TYPES), ("filter", FILTER_TYPES),
                                               ("output", OUTPUT_TYPES)) for t in table if supported_type(kind, t)}
    assert supported == set(SECTIONS)
    assert set(PARSER_TYPES) <= set(PARSES)


def _build(text: str) -> Engine:
    with collect():
        return Engine(load(text, "fluent.conf", {}))


@pytest.mark.parametrize(("kind", "fluentd_type"), sorted(SECTIONS))
def test_each_fluentd_type_builds_its_plugin(kind: str, fluentd_type: str, tmp_path: Path) -> None:
    section = SECTIONS[(kind, fluentd_type)].replace("/tmp/podlog-test", str(tmp_path))
    text = SOURCE.format(parse="") + section + ("" if kind == "output" else MATCH)
    engine = _build(text)
    expected = ["tail", fluentd_type] if kind == "input" and fluentd_type != "tail" else ["tail"]
    assert [p.name for p, _, _ in engine.inputs] == expected
    if fluentd_type == "elasticsearch_data_stream":
        (runner,) = engine.runners
        assert runner.output.data_stream  # what the translation is for


@pytest.mark.parametrize("name", sorted(PARSES))
def test_each_parser_translation_builds(name: str) -> None:
    engine = _build(SOURCE.format(parse=PARSES[name]) + MATCH)
    assert [p.name for p, _, _ in engine.inputs] == ["tail"]


def test_legacy_match_parameters_build_the_buffer() -> None:
    engine = _build(SOURCE.format(parse="") + LEGACY_MATCH)
    (runner,) = engine.runners
    o = runner.options
    assert (o.chunk_limit_size, o.queue_limit_length, o.total_limit_size) == (2 * 1024**2, 8, 16 * 1024**2)
    assert (o.flush_interval, o.retry_max_interval, o.retry_forever, o.flush_thread_count) == (5.0, 30.0, True, 2)


def test_a_legacy_parameter_and_its_buffer_name_together_are_an_error() -> None:
    from podlog.config.errors import ConfigError

    text = SOURCE.format(parse="") + ("<match **>\n  @type null\n  flush_interval 5s\n  buffer_chunk_limit 1M\n"
                                      "  <buffer>\n    flush_interval 1s\n  </buffer>\n</match>\n")
    with pytest.raises(ConfigError) as info:
        load(text, "fluent.conf", {})
    assert str(info.value) == ("fluent.conf:8: flush_interval: set twice: here and as flush_interval in <buffer> "
                               "(line 11)")
    engine = _build(text.replace("  flush_interval 5s\n", ""))
    (runner,) = engine.runners
    assert (runner.options.flush_interval, runner.options.chunk_limit_size) == (1.0, 1024 * 1024)
