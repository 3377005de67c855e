"""Each plugin's Fluentd translation lives with the plugin (its ``fluentd`` hook, issue 8).

``config.fluentd`` maps sections for every plugin alike and hands each plugin
its options with the section they came from; what a hook writes is then read
by the plugin's Options like anything else, so a translation to an option
that does not exist is refused (issue 8's bug: ``elasticsearch_data_stream``
became ``data_stream: true``, an option the output never had).
"""

from __future__ import annotations

from typing import Any

import pytest

from podlog.config.errors import ConfigError
from podlog.config.fluentd import load_fluentd_text
from podlog.config.fluentd_plugin import FluentdSection
from podlog.config.notices import collect
from podlog.config.yaml_loader import LineDict
from podlog.engine import Engine
from podlog.filters.metrics import MetricsFilter
from podlog.outputs.elasticsearch import ElasticsearchOutput
from podlog.outputs.stdout import StdoutOutput

SOURCE = "<source>\n  @type tail\n  path /var/log/x/*.log\n  tag app\n</source>\n"
DATA_STREAM = SOURCE + "<match app>\n  @type elasticsearch_data_stream\n  data_stream_name logs-app-x\n</match>\n"


def _build(text: str) -> Engine:
    with collect():
        return Engine(load_fluentd_text(text, "fluent.conf", {}))


def test_a_translation_to_an_option_the_plugin_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def old_translation(cls: type, options: LineDict, section: FluentdSection) -> None:
        if section.type == "elasticsearch_data_stream":
            options["data_stream"] = True  # what podlog used to write
            options.key_lines["data_stream"] = section.line

    assert _build(DATA_STREAM).runners[0].output.data_stream  # the plugin's own translation builds
    monkeypatch.setattr(ElasticsearchOutput, "fluentd", classmethod(old_translation))
    with pytest.raises(ConfigError, match=r"^fluent\.conf:6: match\.data_stream: unknown option"):
        _build(DATA_STREAM)


def test_the_hook_gets_the_section_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[FluentdSection, dict[str, Any]]] = []

    def spy(cls: type, options: LineDict, section: FluentdSection) -> None:
        seen.append((section, dict(options)))

    monkeypatch.setattr(StdoutOutput, "fluentd", classmethod(spy))
    text = ("<source>\n  @type tail\n  path /var/log/x/*.log\n  tag app\n  @label @OUT\n</source>\n"
            "<label @OUT>\n  <match app.**>\n    @type stdout\n    @id out1\n    output_type json\n  </match>\n"
            "</label>\n")
    config = load_fluentd_text(text, "fluent.conf", {})
    assert seen == [(FluentdSection("stdout", "<match app.**>", "fluent.conf", 8, "label @OUT.match"),
                     {"output_type": "json"})]  # after the generic mapping: @type and @id are the engine's
    assert config.labels["@OUT"].outputs[0].options == {"output_type": "json"}  # the spy changed nothing


def test_a_hook_error_points_at_the_section() -> None:
    with pytest.raises(ConfigError) as info:
        load_fluentd_text(SOURCE + "<match app>\n  @type elasticsearch_data_stream\n</match>\n", "fluent.conf", {})
    assert str(info.value) == ("fluent.conf:6: match: <match app>: @type elasticsearch_data_stream needs "
                               "data_stream_name")


def test_prometheus_sections_become_rules_only_for_the_prometheus_type() -> None:
    options = LineDict("fluent.conf", 6)
    MetricsFilter.fluentd(options, FluentdSection("metrics", "<filter **>", "fluent.conf", 6, "filter"))
    assert options == {}  # podlog's own name: its options are podlog's already
    with pytest.raises(ConfigError, match="@type prometheus needs at least one <metric> section"):
        MetricsFilter.fluentd(options, FluentdSection("prometheus", "<filter **>", "fluent.conf", 6, "filter"))
