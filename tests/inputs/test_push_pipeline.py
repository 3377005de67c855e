"""Pushed records take the same road as tailed ones: a fluent.conf with forward, http and syslog sources,
a grep filter, tag routing, a file buffer and file outputs, run by the real engine."""

from __future__ import annotations

import http.client
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from fluent import sender

from podlog.config.loader import load_config_text
from podlog.engine import Engine
from tests.conftest import read_ndjson
from tests.drivers.http_sink import free_port
from tests.inputs.push_helpers import wait_for

CONF = """
<system>
  root_dir {data}
</system>
<source>
  @type forward
  @id fwd
  bind 127.0.0.1
  port {fwd}
</source>
<source>
  @type http
  @id web
  bind 127.0.0.1
  port {http}
</source>
<source>
  @type syslog
  @id sys
  bind 127.0.0.1
  port {syslog}
  tag sys
  <transport tcp>
  </transport>
</source>
<filter **>
  @type grep
  <exclude>
    key level
    pattern /^debug$/
  </exclude>
</filter>
<match app.**>
  @type file
  path {out}/app.ndjson
  <buffer>
    @type file
    path {data}/buffer/app
    flush_interval 0.1s
  </buffer>
</match>
<match sys.**>
  @type file
  path {out}/sys.ndjson
  <buffer>
    flush_interval 0.1s
  </buffer>
</match>
"""


@pytest.mark.skipif(shutil.which("logger") is None, reason="logger (util-linux) not installed")
def test_pushed_records_are_filtered_routed_buffered_and_delivered(tmp_path: Path) -> None:
    ports = {"fwd": free_port(), "http": free_port(), "syslog": free_port()}
    text = CONF.format(data=tmp_path / "data", out=tmp_path / "out", **ports)
    engine = Engine(load_config_text(text, str(tmp_path / "fluent.conf")))
    engine.start()
    try:
        fluent = sender.FluentSender("app", host="127.0.0.1", port=ports["fwd"])
        assert fluent.emit("fwd", {"level": "info", "n": 1}) and fluent.emit("fwd", {"level": "debug", "n": 2})
        fluent.close()
        conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=30)
        conn.request("POST", "/app/web", body=b'{"level":"info","n":3}\n{"level":"debug","n":4}\n',
                     headers={"Content-Type": "application/x-ndjson"})
        assert conn.getresponse().status == 200  # file buffer: answered once durably written
        conn.close()
        subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(ports["syslog"]), "-T", "--octet-count",
                        "--rfc5424", "-t", "job", "backup done"], check=True, timeout=30)
        app, sys_out = tmp_path / "out" / "app.ndjson", tmp_path / "out" / "sys.ndjson"
        assert wait_for(lambda: len(read_ndjson(app)) == 2 and len(read_ndjson(sys_out)) == 1, timeout=30)
    finally:
        engine.shutdown()
    assert sorted(r["n"] for r in read_ndjson(app)) == [1, 3]
    assert read_ndjson(sys_out)[0]["message"] == "backup done"
    ledger = engine.ledger.snapshot()
    assert ledger["fwd"] == {"read": 2, "delivered": 1, "dropped": {"filtered": 1}, "buffered": 0}
    assert ledger["web"] == {"read": 2, "delivered": 1, "dropped": {"filtered": 1}, "buffered": 0}
    assert ledger["sys"] == {"read": 1, "delivered": 1, "dropped": {}, "buffered": 0}
    status = {i["name"]: i for i in engine.status()["inputs"]}
    assert status["fwd"]["records"] == 2 and status["web"]["type"] == "http"
    assert status["fwd"]["connections"] == 0 and status["web"]["refused"] == {}
    from prometheus_client import generate_latest

    exposition = generate_latest(engine.metrics.registry).decode()
    assert 'podlog_input_connections{input="fwd"} 0.0' in exposition
    assert orjson.loads(app.read_bytes().splitlines()[0])["@timestamp"].endswith("Z")


def test_docs_examples_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/inputs.md's YAML and fluent.conf examples are configs the agent accepts."""
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "inputs.md").read_text()
    monkeypatch.setenv("PODLOG_HTTP_TOKEN", "t")
    yaml_block = re.findall(r"```yaml\n(.*?)```", text, re.S)[0]
    engine = Engine(load_config_text(yaml_block, "inputs.md"))
    assert [p.name for p, _, _ in engine.inputs] == ["forward", "http", "syslog"]
    conf = re.findall(r"```\n(<source>.*?)```", text, re.S)[0]
    engine = Engine(load_config_text(conf + "<match **>\n  @type null\n</match>\n", "inputs.md"))
    forward, syslog = (p for p, _, _ in engine.inputs)
    assert (forward.options.self_hostname, syslog.options.transport) == ("podlog", "tcp")


def test_refused_clients_show_in_metrics(tmp_path: Path) -> None:
    port = free_port()
    text = f"sources:\n  - {{type: http, id: web, bind: 127.0.0.1, port: {port}}}\noutputs:\n  - {{type: 'null'}}\n"
    engine = Engine(load_config_text(text, "agent.yaml"))
    engine.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/t", body=b"{broken", headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 400
        conn.close()
    finally:
        engine.shutdown()
    from prometheus_client import generate_latest

    exposition = generate_latest(engine.metrics.registry).decode()
    assert 'podlog_input_refused_total{input="web",reason="bad_request"} 1.0' in exposition


@pytest.mark.parametrize("buffer", ["file", "memory"])
def test_http_answer_means_durably_buffered_or_delivered(tmp_path: Path, buffer: str) -> None:
    """The output's collector is down: a file buffer answers 200 once the records are in its chunk file,
    a memory buffer cannot call them safe and answers 503 (Retry-After) when ack_timeout passes."""
    port, dead = free_port(), free_port()
    data = tmp_path / "data"
    text = f"""
agent: {{data_dir: "{data}", grace_period: 1s}}
sources:
  - {{type: http, id: web, bind: 127.0.0.1, port: {port}, ack_timeout: 1s}}
outputs:
  - type: http
    url: http://127.0.0.1:{dead}/logs
    buffer: {{type: {buffer}, flush_interval: 0.1s, retry_wait: 0.1s, flush_at_shutdown: false}}
"""
    engine = Engine(load_config_text(text, "agent.yaml"))
    engine.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/app", body=b'{"kept":"on disk"}', headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        chunks = list((data / "buffer").rglob("*.chunk")) if (data / "buffer").exists() else []
        if buffer == "file":
            assert resp.status == 200
            assert any(b'"kept":"on disk"' in c.read_bytes() for c in chunks)
        else:
            assert (resp.status, resp.getheader("Retry-After")) == (503, "1")
            assert chunks == []
    finally:
        engine.shutdown()
