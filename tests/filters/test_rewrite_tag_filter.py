"""rewrite_tag_filter: new tags from fields, re-routing, acks held until the new routes ack, loops stopped."""

from __future__ import annotations

import logging

import pytest

from podlog.batch import Ack, Batch
from podlog.config.errors import ConfigError
from podlog.config.loader import load_config_text
from podlog.pipeline import build
from podlog.telemetry.ledger import Ledger
from tests.filters.helpers import FLUENT_HEAD, Recorder, batch_of, fluent_filter, yaml_filter

RECORDS = [
    {"level": "error", "message": "a", "kubernetes": {"namespace_name": "shop"}},
    {"level": "info", "message": "b", "kubernetes": {"namespace_name": "shop"}},
    {"level": "warn", "message": "c", "kubernetes": {"namespace_name": "kube-system"}},
    {"message": "d"},
]
RULES = ("  <rule>\n    key level\n    pattern /^(error|warn)$/\n    tag alert.$1.${tag}\n  </rule>\n"
         "  <rule>\n    key $.kubernetes.namespace_name\n    pattern /^kube-/\n    tag system.__TAG__\n"
         "    invert true\n  </rule>\n")


def test_rules_in_order_with_placeholders_and_acks_held() -> None:
    emitted: list[Batch] = []
    flt = fluent_filter(f"<filter app.**>\n  @type rewrite_tag_filter\n{RULES}</filter>\n", emit=emitted.append)
    done: list[Ack] = []
    batch = batch_of(RECORDS, tag="app.web")
    batch.ack = Ack(done.append)
    result = flt.filter(batch)
    rest = result.batch
    assert rest is not None and [r["message"] for r in rest.records] == []  # every record was rewritten...
    assert (result.kept, result.dropped, result.moved) == (0, 0, 4)
    assert {b.tag: [r["message"] for r in b.records] for b in emitted} == {
        "alert.error.app.web": ["a"], "system.app.web": ["b", "d"], "alert.warn.app.web": ["c"]}
    assert emitted[1].offsets == [1, 3]
    batch.ack.release()  # the routing's own reference
    for child in emitted[:-1]:
        child.ack.release()
        assert not done  # ...and the source is not acked while one new route still holds its records
    emitted[-1].ack.release()
    assert done == [batch.ack]


def test_docs_stay_serialised_and_unmatched_records_go_on_in_a_filter() -> None:
    emitted: list[Batch] = []
    flt = yaml_filter("  - type: rewrite_tag_filter\n    rule: [{key: level, pattern: error, tag: errors}]\n",
                      emit=emitted.append)
    result = flt.filter(batch_of(RECORDS))
    rest = result.batch
    assert rest is not None and rest.has_docs() and len(rest) == 3
    assert (result.kept, result.dropped, result.moved) == (3, 0, 1)
    assert emitted[0].has_docs() and emitted[0].tag == "errors"


def test_same_tag_is_not_rewritten_and_capitalize() -> None:
    emitted: list[Batch] = []
    flt = yaml_filter("  - type: rewrite_tag_filter\n    capitalize_regex_backreference: true\n"
                      "    remove_tag_prefix: kube\n"
                      "    rule:\n      - {key: message, pattern: '^(a|b)$', tag: '$1.$${tag}'}\n"
                      "      - {key: message, pattern: c, tag: 'kube.$${tag}'}\n", emit=emitted.append)
    rest = flt.filter(batch_of(RECORDS, tag="kube.app")).batch
    assert [b.tag for b in emitted] == ["A.app", "B.app"]
    assert rest is not None and len(rest) == 2  # c: its new tag is its tag, so it is not re-emitted


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"fluent.conf:6: filter: filter\.rule: required"):
        fluent_filter("<filter **>\n  @type rewrite_tag_filter\n</filter>\n")
    with pytest.raises(ConfigError, match=r"rule: \[0\]: expected key, pattern, tag"):
        yaml_filter("  - type: rewrite_tag_filter\n    rule: [{key: a, pattern: b}]\n")


class Built:
    """A pipeline built for a dry run, and a ledger for its sources' acks."""

    def __init__(self, text: str, dry: Recorder) -> None:
        self.pipeline = build(load_config_text(text, "fluent.conf"), dry)
        self.metrics = self.pipeline.metrics
        self.emit_tagged = self.pipeline.emit_tagged
        self.ledger = Ledger()


def engine(text: str) -> tuple[Built, Recorder]:
    dry = Recorder(hold=True)
    return Built(text, dry), dry


def source_batch(eng: Built, tag: str = "app") -> tuple[Batch, list[Ack]]:
    done: list[Ack] = []
    batch = batch_of(RECORDS, tag=tag)
    batch.ack = Ack(done.append, "src", eng.ledger)
    eng.ledger.add_read("src", len(batch))
    return batch, done


def settle(dry: Recorder) -> None:
    for batches in dry.got.values():
        for b in batches:
            b.ack.release()


def test_match_form_routes_rewritten_records_and_drops_the_rest_counted() -> None:
    eng, dry = engine(FLUENT_HEAD + "<match app>\n  @type rewrite_tag_filter\n  <rule>\n    key level\n"
                      "    pattern /^(error|warn)$/\n    tag $1.app\n  </rule>\n</match>\n"
                      "<filter error.**>\n  @type record_transformer\n  <record>\n    seen yes\n  </record>\n"
                      "</filter>\n<match error.**>\n  @type stdout\n  @id errors\n</match>\n"
                      "<match **>\n  @type stdout\n  @id rest\n</match>\n")
    batch, done = source_batch(eng)
    eng.emit_tagged(batch)
    assert {k: [(b.tag, [r["message"] for r in b.records]) for b in v] for k, v in dry.got.items()} == {
        "errors": [("error.app", ["a"])], "rest": [("warn.app", ["c"])]}
    assert dry.got["errors"][0].records[0]["seen"] == "yes"  # filters run on the new tag
    assert dry.drops == [(2, "rewrite_tag_filter.0")]  # info and no level: no rule, dropped as in Fluentd
    assert eng.metrics.registry.get_sample_value("podlog_filter_dropped_records_total",
                                                 {"filter": "rewrite_tag_filter.0"}) == 2
    assert not done
    settle(dry)
    assert len(done) == 1
    assert eng.ledger.snapshot()["src"]["dropped"] == {"filtered": 2}


def test_filter_form_moves_are_not_drops_and_labels_stay() -> None:
    eng, dry = engine(FLUENT_HEAD.replace("</source>", "  @label @IN\n</source>") +
                      "<label @IN>\n  <filter app>\n    @type rewrite_tag_filter\n    <rule>\n      key level\n"
                      "      pattern /error/\n      tag err\n    </rule>\n  </filter>\n"
                      "  <match err>\n    @type stdout\n    @id err\n  </match>\n"
                      "  <match app>\n    @type stdout\n    @id app\n  </match>\n</label>\n")
    batch, done = source_batch(eng)
    eng.emit_tagged(batch, "@IN")
    assert {k: sum(map(len, v)) for k, v in dry.got.items()} == {"err": 1, "app": 3}
    assert dry.drops == [] and eng.metrics.registry.get_sample_value("podlog_filter_dropped_records_total",
                                                                     {"filter": "@IN:rewrite_tag_filter.0"}) is None
    settle(dry)
    assert len(done) == 1


def test_loops_are_stopped_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    # the new tag matches the same <match> again: Fluentd would loop for ever
    eng, dry = engine(FLUENT_HEAD + "<match app.**>\n  @type rewrite_tag_filter\n  <rule>\n    key level\n"
                      "    pattern /./\n    tag app.x.${tag}\n  </rule>\n</match>\n")
    batch, done = source_batch(eng, tag="app.a")
    with caplog.at_level(logging.WARNING):
        eng.emit_tagged(batch)
    assert "came back to it" in caplog.text and "'app.x.app.a'" in caplog.text
    assert sorted(dry.drops) == [(1, "rewrite_tag_filter.0"), (3, "rewrite_tag_filter.0")]
    assert done and eng.ledger.snapshot()["src"]["dropped"] == {"filtered": 4}
    # in filters, records coming back go on unchanged
    eng, dry = engine(FLUENT_HEAD + "<filter app.**>\n  @type rewrite_tag_filter\n  <rule>\n    key level\n"
                      "    pattern /./\n    tag app.x.${tag}\n  </rule>\n</filter>\n"
                      "<match **>\n  @type stdout\n  @id out\n</match>\n")
    batch, done = source_batch(eng, tag="app.a")
    eng.emit_tagged(batch)
    assert [(b.tag, len(b)) for b in dry.got["out"]] == [("app.x.app.a", 3), ("app.a", 1)]
    settle(dry)
    assert done


def test_buffer_is_refused_in_the_match_form() -> None:
    with pytest.raises(ConfigError, match="no buffer"):
        engine(FLUENT_HEAD + "<match app>\n  @type rewrite_tag_filter\n  <rule>\n    key a\n    pattern b\n"
               "    tag c\n  </rule>\n  <buffer>\n  </buffer>\n</match>\n")


def test_ledger_counts_each_record_once() -> None:
    ledger = Ledger()
    done: list[Ack] = []
    emitted: list[Batch] = []
    flt = yaml_filter("  - type: rewrite_tag_filter\n    rule: [{key: level, pattern: error, tag: e}]\n",
                      emit=emitted.append)
    batch = batch_of(RECORDS)
    batch.ack = Ack(done.append, "s", ledger)
    flt.filter(batch)
    assert emitted[0].ack is not batch.ack and emitted[0].ack.source == "s" and emitted[0].ack.listener is ledger
