"""SIGHUP to a running agent reloads metrics rules; unchanged counters keep counting from where they were."""

from __future__ import annotations

import signal
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import metrics_text, wait_for
from tests.drivers.http_sink import free_port

CONFIG = """
agent: {{grace_period: 5s, http_listen: "127.0.0.1:{port}", data_dir: {tmp}/data}}
sources:
  - type: tail
    tag: app
    path: [{log}]
    pos_file: {tmp}/pos.json
    read_from_head: true
    stat_interval: 0.1s
    container_format: none
    parser: json
filters:
  - type: metrics
    rules:
{rules}
outputs:
  - type: "null"
"""


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics_text(port)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def append(log: Path, levels: list[str]) -> None:
    with open(log, "a") as f:
        f.writelines(f'{{"level": "{level}", "msg": "m"}}\n' for level in levels)


def test_sighup_reloads_rules_and_keeps_unchanged_counters(tmp_path: Path, agent_factory) -> None:
    log, port = tmp_path / "app.log", free_port()
    append(log, ["info", "info", "error"])
    config = dict(port=port, tmp=tmp_path, log=log)
    first = ("      - {name: lines_total, type: counter, labels: [level]}\n"
             "      - {name: errors_total, type: counter, where: [{key: level, pattern: error}]}\n")
    agent = agent_factory(CONFIG.format(rules=first, **config)).start()
    lines = ("lines_total", (("level", "info"),))
    assert wait_for(lambda: samples(port).get(lines) == 2, 60)
    assert samples(port)[("errors_total", ())] == 1

    # lines_total unchanged (a new help text), errors_total now by level, warnings_total new
    second = ("      - {name: lines_total, type: counter, help: Lines by level., labels: [level]}\n"
              "      - {name: errors_total, type: counter, labels: [level], where: [{key: level, pattern: error}]}\n"
              "      - {name: warnings_total, type: counter, where: [{key: level, pattern: warn}]}\n")
    agent.config.write_text(CONFIG.format(rules=second, **config))
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: reloaded metrics.0" in agent.log.read_text(), 30)
    append(log, ["info", "warn", "error"])
    assert wait_for(lambda: samples(port).get(lines) == 3, 60)
    s = samples(port)
    assert s[("lines_total", (("level", "error"),))] == 2
    assert s[("errors_total", (("level", "error"),))] == 1  # new labels: a new metric, counting from the reload
    assert ("errors_total", ()) not in s
    assert s[("warnings_total", ())] == 1

    # a broken config: logged, the running rules stay
    agent.config.write_text(CONFIG.format(rules="      - {name: x, type: gauge}\n", **config))
    agent.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config not reloaded" in agent.log.read_text(), 30)
    append(log, ["info"])
    assert wait_for(lambda: samples(port).get(lines) == 4, 60)
    assert agent.stop() == 0
    assert "a gauge needs the field" in agent.log.read_text()


def test_engine_reload_finds_filters_in_labels_and_by_id(tmp_path: Path) -> None:
    """Engine.reload (what SIGHUP runs) maps the new config's filters to the running ones by name."""
    from podlog.config.loader import load_config
    from podlog.engine import Engine
    from tests.filters.helpers import batch_of
    from tests.metrics.test_rules import sample, scrape

    def write(rule: str) -> Path:
        cfg = tmp_path / "agent.yaml"
        cfg.write_text(f"""
sources: [{{type: tail, path: [{tmp_path}/x.log], tag: app, label: "@M"}}]
labels:
  "@M":
    filters:
      - {{type: metrics, id: counts, rules: [{rule}]}}
    outputs: [{{type: "null"}}]
""")
        return cfg

    engine = Engine(load_config(str(write("{name: a_total, type: counter}"))))
    flt = engine.named_filters["counts"]
    flt.filter(batch_of([{}, {}]))
    write("{name: a_total, type: counter}, {name: b_total, type: counter}")
    engine.reload()
    flt.filter(batch_of([{}]))
    s = scrape(flt)
    assert sample(s, "a_total") == 3 and sample(s, "b_total") == 1
