"""The pipeline builder apart from the engine: what filters' results do to routing, optional abilities with
neutral defaults, and the dry run (``podlog check --input``) for inputs other than the tail."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from prometheus_client import generate_latest

import podlog.pipeline
from podlog.batch import Ack, Batch
from podlog.cli import main
from podlog.config.loader import load_config_text
from podlog.engine import Engine
from podlog.filters._base import Filter, Filtered
from podlog.inputs._base import Emit, Input
from podlog.pipeline import Runners, build
from podlog.plugin import Plugin
from podlog.telemetry.ledger import Ledger
from tests.filters.helpers import Recorder
from tests.k8s.events_helpers import core_event, series_event


class EveryThird(Filter):
    """Keeps records whose ``i`` is 0, 3, 6...; re-emits 1, 4, 7... under the tag ``moved``; drops the rest."""

    name = "every_third"

    def filter(self, batch: Batch) -> Filtered:
        given = len(batch)
        rest = [r["i"] % 3 for r in batch.records]
        moved = [d for d, r in zip(batch.docs, rest, strict=True) if r == 1]
        if moved:
            self.context["emit"](Batch("moved", docs=moved))
        batch.keep([r == 0 for r in rest])
        return Filtered(batch if len(batch) else None, given, moved=len(moved))


class Quiet(Input):
    """A third-party input that declares none of the optional abilities."""

    name = "quiet"

    def run(self, emit: Emit) -> None:
        pass


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    real = podlog.pipeline.lookup
    mine: dict[tuple[str, str], type[Plugin]] = {("filter", "every_third"): EveryThird, ("input", "quiet"): Quiet}

    def lookup(kind: str, name: str) -> type[Plugin]:
        return mine.get((kind, name)) or real(kind, name)

    monkeypatch.setattr(podlog.pipeline, "lookup", lookup)


YAML = """
sources:
  - {type: quiet}
filters:
  - {type: every_third, match: app, id: third}
outputs:
  - {type: "null", match: moved, id: moved}
  - {type: "null", match: app, id: app}
"""


def source_batch(values: range | list[int], ledger: Ledger) -> tuple[Batch, list[Ack]]:
    done: list[Ack] = []
    batch = Batch("app", docs=[orjson.dumps({"i": i}) for i in values])
    batch.ack = Ack(done.append, "src", ledger)
    ledger.add_read("src", len(batch))
    return batch, done


def test_filter_results_drive_drop_accounting_and_moved_records_are_not_drops(plugins: None) -> None:
    dry = Recorder()
    pipeline = build(load_config_text(YAML, "agent.yaml"), dry)
    ledger = Ledger()
    batch, done = source_batch(range(7), ledger)  # kept 0 3 6, moved 1 4, dropped 2 5
    pipeline.emit_tagged(batch)
    assert [len(b) for b in dry.got["app"]] == [3] and [len(b) for b in dry.got["moved"]] == [2]
    assert dry.drops == [(2, "third")]
    assert pipeline.metrics.registry.get_sample_value("podlog_filter_dropped_records_total",
                                                      {"filter": "third"}) == 2
    assert ledger.snapshot()["src"]["dropped"] == {"filtered": 2}
    assert len(done) == 1  # the stand-ins retained nothing: the source is settled

    batch, done = source_batch([2, 5, 8], ledger)  # nothing kept or moved: routing releases the ack itself
    pipeline.emit_tagged(batch)
    assert len(dry.got["app"]) == 1 and dry.drops == [(2, "third"), (3, "third")]
    assert ledger.snapshot()["src"]["dropped"] == {"filtered": 5}
    assert len(done) == 1


def test_check_builds_what_the_agent_builds_and_starts_nothing(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "agent.yaml"
    conf.write_text(f"agent: {{data_dir: {tmp_path}/data}}\n"
                    f"sources:\n  - {{type: tail, path: [{tmp_path}/*.log], pos_file: {tmp_path}/pos.json}}\n"
                    f"outputs:\n  - {{type: copy, stores: [{{type: stdout}}, {{type: file, path: {tmp_path}/o, "
                    f"buffer: {{type: file}}}}]}}\n")
    assert main(["check", "-c", str(conf)]) == 0
    assert capsys.readouterr().out == f"{conf}: OK (1 sources, 2 outputs)\n"
    runners = Runners(load_config_text(conf.read_text(), str(conf)))
    pipeline = build(runners.config, runners)
    assert [r.name for r in runners.runners] == ["copy.0.0", "copy.0.1"] and pipeline.targets == runners.runners
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.yaml"]  # no buffer, pos_file or output file


def test_status_and_metrics_of_inputs_without_the_optional_abilities(plugins: None) -> None:
    """Before the abilities were declared, /status and /metrics failed on a kubernetes_events source (it has
    ``stats`` but no ``connections``); an input that declares nothing reports neutral values."""
    engine = Engine(load_config_text(
        "sources:\n  - {type: kubernetes_events, kubernetes_url: 'http://127.0.0.1:9'}\n  - {type: quiet}\n"
        "outputs:\n  - {type: 'null'}\n", "agent.yaml"))
    events, quiet = engine.status()["inputs"]
    assert events["type"] == "kubernetes_events" and "connections" not in events
    assert quiet == {"name": "quiet.1", "type": "quiet", "records": 0, "bytes": 0, "lag": {}, "files_waiting": {}}
    exposition = generate_latest(engine.metrics.registry).decode()  # raised AttributeError before
    assert 'podlog_input_connections{input=' not in exposition and "podlog_up" in exposition


EVENTS = "sources:\n  - {type: kubernetes_events, kubernetes_url: 'http://127.0.0.1:9'}\n" \
         "outputs:\n  - {type: stdout, match: kubernetes.events}\n"


def test_dry_run_reads_kubernetes_events_as_the_api_sends_them(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "events.yaml"
    conf.write_text(EVENTS)
    sample = tmp_path / "events.jsonl"
    lines = [core_event("web-1.a", count=3), {"type": "MODIFIED", "object": series_event("db-0.b", 2)},
             {"type": "DELETED", "object": core_event("web-1.a")}]
    sample.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines) + b"hello\n")
    assert main(["check", "-c", str(conf), "--input", str(sample), "--json"]) == 0
    reports = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["tag"] for r in reports] == ["kubernetes.events"] * 4
    first, second, deleted, plain = reports
    assert first["records"][0]["reason"] == "BackOff" and first["records"][0]["count"] == 3
    assert first["records"][0]["involved_object"]["name"] == "web-1"
    assert second["records"][0]["reporting_component"] == "default-scheduler"
    assert [o["output"] for o in first["outputs"] + second["outputs"]] == ["stdout.0", "stdout.0"]
    assert deleted["records"] == [] and "error" not in deleted  # a deletion makes no record, as in the input
    assert plain["records"] == [] and plain["error"].startswith("not a Kubernetes Event")

    assert main(["check", "-c", str(conf), "--input", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "4 lines as Events read by source kubernetes_events.0 (kubernetes_events), tag kubernetes.events" in out
    assert "line 4: hello\n  not read: not a Kubernetes Event" in out


def test_dry_run_of_an_input_that_takes_no_lines_says_so(plugins: None, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "agent.yaml"
    conf.write_text("sources:\n  - {type: quiet}\noutputs:\n  - {type: stdout}\n")
    sample = tmp_path / "s.log"
    sample.write_bytes(b"hello\n")
    assert main(["check", "-c", str(conf), "--input", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "1 line as plain messages from source quiet.0 (quiet), which takes no sample lines, tag sample" in out
    assert '"message":"hello"' in out and "-> stdout.0 (stdout) via <match **>" in out
