"""Filters in a real ``podlog agent``: grep drops counted in /metrics and the ledger, rewrite_tag_filter
routing to another output, and checkpoints that advance when every record is filtered out."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.conftest import metrics_text, read_ndjson, wait_for
from tests.drivers.http_sink import free_port

LEVELS = ("error", "info", "debug")


def write_lines(path: Path, n: int, levels: tuple[str, ...] = LEVELS) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps({"level": levels[i % len(levels)], "n": i}) + b"\n" for i in range(n)))


def committed(pos_file: Path) -> list[int]:
    try:
        return [e["offset"] for e in orjson.loads(pos_file.read_bytes())["files"].values()]
    except (OSError, ValueError):
        return []


def test_grep_and_rewrite_tag_filter_route_count_and_commit(tmp_path: Path, agent_factory) -> None:
    log, port = tmp_path / "app.log", free_port()
    write_lines(log, 300)
    agent = agent_factory(f"""
agent: {{grace_period: 5s, http_listen: "127.0.0.1:{port}", data_dir: {tmp_path}/data}}
sources:
  - type: tail
    id: app
    path: [{log}]
    pos_file: {tmp_path}/pos.json
    read_from_head: true
    stat_interval: 0.1s
    checkpoint_interval: 0.1s
    container_format: none
    parser: json
    tag: app
filters:
  - type: grep
    match: app
    exclude: [{{key: level, pattern: debug}}]
outputs:
  - type: rewrite_tag_filter
    match: app
    rule:
      - {{key: level, pattern: '^(error)$', tag: alert.$1}}
      - {{key: level, pattern: info, tag: logs}}
  - type: file
    match: alert.**
    path: {tmp_path}/alerts.ndjson
    buffer: {{flush_interval: 0.05s}}
  - type: file
    match: logs
    path: {tmp_path}/logs.ndjson
    buffer: {{flush_interval: 0.05s}}
""").start()
    alerts, logs = tmp_path / "alerts.ndjson", tmp_path / "logs.ndjson"
    assert wait_for(lambda: len(read_ndjson(alerts)) >= 100 and len(read_ndjson(logs)) >= 100)
    assert wait_for(lambda: committed(tmp_path / "pos.json") == [log.stat().st_size])
    text = metrics_text(port)
    assert 'podlog_filter_dropped_records_total{filter="grep.0"} 100.0' in text
    assert 'podlog_source_dropped_records_total{reason="filtered",source="app"} 100.0' in text
    assert 'podlog_source_buffered_records{source="app"} 0.0' in text
    assert 'podlog_source_delivered_records_total{source="app"} 200.0' in text  # re-emitted records, once each
    assert agent.stop() == 0
    assert {r["level"] for r in read_ndjson(alerts)} == {"error"} and len(read_ndjson(alerts)) == 100
    assert {r["level"] for r in read_ndjson(logs)} == {"info"} and len(read_ndjson(logs)) == 100


def test_fluent_conf_everything_filtered_out_still_advances_the_checkpoint(tmp_path: Path, agent_factory) -> None:
    log, pos, out = tmp_path / "app.log", tmp_path / "app.pos", tmp_path / "out.ndjson"
    write_lines(log, 500, levels=("debug", "info"))
    cfg = tmp_path / "fluent.conf"
    cfg.write_text(f"""<source>
  @type tail
  path {log}
  pos_file {pos}
  read_from_head true
  stat_interval 0.1s
  checkpoint_interval 0.1s
  tag app
  <parse>
    @type json
  </parse>
</source>
<filter app>
  @type grep
  <regexp>
    key level
    pattern /^error$/
  </regexp>
</filter>
<match app>
  @type file
  path {out}
</match>
""")
    agent = agent_factory("")
    agent.config = cfg
    agent.start()
    assert wait_for(lambda: committed(pos) == [log.stat().st_size])
    write_lines(log, 10, levels=("error",))
    assert wait_for(lambda: len(read_ndjson(out)) == 10)
    assert wait_for(lambda: committed(pos) == [log.stat().st_size])  # all read and acknowledged: no more to come
    assert agent.stop() == 0
    assert committed(pos) == [log.stat().st_size]
    assert [r["level"] for r in read_ndjson(out)] == ["error"] * 10
