"""The Events collector end to end: real ``podlog agent`` processes restarted, and routing to Elasticsearch.

The Kubernetes API server is tests/drivers/k8s_api.py and Elasticsearch is tests/drivers/es_double.py:
protocol doubles built from the official API references, since neither server can run here.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from podlog.config.loader import load_config_text
from podlog.engine import Engine
from tests.conftest import read_ndjson, wait_for
from tests.drivers.es_double import EsDouble
from tests.drivers.k8s_api import K8sApiDouble
from tests.k8s.events_helpers import core_event, series_event

PODLOG = [sys.executable, "-m", "podlog"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api():
    with K8sApiDouble(bookmark_interval=0.5) as double:
        yield double


def events_source(api: K8sApiDouble, tmp: Path, **extra: object) -> dict:
    token = tmp / "token"
    token.write_text("test-token\n")
    return {"type": "kubernetes_events", "tag": "kubernetes.events", "kubernetes_url": api.url,
            "bearer_token_file": str(token), "checkpoint_interval": "100ms", **extra}


def keys(records: list[dict]) -> Counter:
    return Counter((r["event"]["name"], r["count"]) for r in records if r["reason"] != "EventsMayBeMissing")


def test_agent_restarts_lose_nothing_and_repeat_nothing(api, tmp_path):
    out = tmp_path / "out" / "events.ndjson"
    config = {"agent": {"grace_period": "5s", "data_dir": str(tmp_path / "data")},
              "sources": [events_source(api, tmp_path, state_file=str(tmp_path / "events.state"))],
              "outputs": [{"type": "file", "match": "kubernetes.**", "path": str(out),
                           "buffer": {"flush_interval": "100ms"}}]}
    path = tmp_path / "agent.yaml"
    path.write_bytes(orjson.dumps(config))
    expected: Counter = Counter()

    def put(name: str, count: int = 1) -> None:
        api.put("v1", "events", core_event(name, count=count))
        expected[(name, count)] += 1

    def agent(run: int) -> subprocess.Popen[bytes]:
        err = open(tmp_path / f"agent-{run}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([*PODLOG, "agent", "-c", str(path)], stdout=err, stderr=err, cwd=ROOT)
        err.close()
        return proc

    def delivered() -> Counter:
        return keys(read_ndjson(out)) if out.exists() else Counter()

    put("before-start")
    for run in range(3):
        proc = agent(run)
        put(f"run-{run}")
        assert wait_for(lambda: delivered() == expected, 30), (delivered(), expected)
        put("before-start", count=run + 2)  # the same event happening again: an update each run
        assert wait_for(lambda: delivered() == expected, 30), (delivered(), expected)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        put(f"while-down-{run}")  # written while no agent runs: the next one picks it up from the watch
    proc = agent(3)
    try:
        assert wait_for(lambda: delivered() == expected, 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert max(delivered().values()) == 1
    assert api.count("list", "events") == 1  # the first start listed; every restart resumed the watch
    assert not [r for r in read_ndjson(out) if r["reason"] == "EventsMayBeMissing"]
    # kill -9: no clean shutdown, so records acknowledged after the last save may come again; none is lost
    proc = agent(4)
    put("before-kill")
    assert wait_for(lambda: delivered() >= expected, 30)
    proc.kill()
    proc.wait(30)
    put("after-kill")
    proc = agent(5)
    try:
        assert wait_for(lambda: set(delivered()) == set(expected), 30), (delivered(), expected)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert all(delivered()[k] >= 1 for k in expected)


def test_events_reach_elasticsearch_as_heapster_and_k8s_events_indices(api, tmp_path):
    api.put("v1", "events", core_event("web-1.a", count=2, last="2026-12-01T03:00:00Z"))
    api.put("events.k8s.io/v1", "events", series_event("db-0.b", count=3))
    with EsDouble("es8") as es:
        config = {"agent": {"grace_period": "5s", "data_dir": str(tmp_path / "data")},
                  "sources": [events_source(api, tmp_path)],
                  "outputs": [{"type": "copy", "match": "kubernetes.events", "stores": [
                      {"type": "elasticsearch", "hosts": es.url, "logstash_format": True,
                       "logstash_prefix": "heapster", "buffer": {"flush_interval": "100ms"}},
                      {"type": "elasticsearch", "hosts": es.url, "index_name": "k8s-events-%Y.%m.%d",
                       "buffer": {"flush_interval": "100ms"}}]}]}

        def run_once() -> None:
            engine = Engine(load_config_text(orjson.dumps(config).decode(), "events.yaml"))
            engine.start()
            try:
                assert wait_for(lambda: len(es.documents()) >= 4, 15)
            finally:
                engine.shutdown()

        run_once()
        heapster = es.documents("heapster-2026.12.01")
        assert sorted((d["reason"], d["count"]) for d in heapster) == [("BackOff", 2), ("FailedScheduling", 3)]
        assert sorted(d["involved_object"]["name"] for d in es.documents("k8s-events-2026.12.01")) == ["db-0",
                                                                                                       "web-1"]
        # No state kept: a second collector lists the same events again. Their ids are derived from
        # (uid, count), so Elasticsearch keeps one document each.
        run_once()
        assert len(es.documents()) == 4


def test_two_agents_one_collects_and_the_other_takes_over(api, tmp_path):
    """Two agent processes as in the DaemonSet with leader election: only the Lease holder ships Events; when
    it stops (SIGTERM: it releases the Lease) the other resumes from the position saved in the Lease."""
    api.put("coordination.k8s.io/v1", "leases", {"metadata": {"name": "podlog-events", "namespace": "logging"},
                                                 "spec": {}})
    procs: dict[str, subprocess.Popen[bytes]] = {}
    outs = {n: tmp_path / n / "events.ndjson" for n in ("a", "b")}
    for n in ("a", "b"):
        source = events_source(api, tmp_path, leader_election=True, identity=f"agent-{n}",
                               lease_namespace="logging", lease_duration="3s", renew_deadline="2s",
                               retry_period="100ms")
        config = {"agent": {"grace_period": "5s", "data_dir": str(tmp_path / n / "data")}, "sources": [source],
                  "outputs": [{"type": "file", "path": str(outs[n]), "buffer": {"flush_interval": "100ms"}}]}
        (tmp_path / f"{n}.yaml").write_bytes(orjson.dumps(config))

    def start(n: str) -> None:
        err = open(tmp_path / f"{n}.log", "ab")  # noqa: SIM115
        procs[n] = subprocess.Popen([*PODLOG, "agent", "-c", str(tmp_path / f"{n}.yaml")], stdout=err, stderr=err,
                                    cwd=ROOT)
        err.close()

    def got(n: str) -> Counter:
        return keys(read_ndjson(outs[n])) if outs[n].exists() else Counter()

    def holder() -> str:
        return api.get("coordination.k8s.io/v1", "leases", "podlog-events", "logging")["spec"].get(
            "holderIdentity", "")

    start("a")
    assert wait_for(lambda: holder() == "agent-a", 20)
    start("b")
    try:
        for i in range(5):
            api.put("v1", "events", core_event(f"e{i}"))
        assert wait_for(lambda: len(got("a")) == 5, 20)
        procs["a"].send_signal(signal.SIGTERM)
        assert procs["a"].wait(30) == 0
        assert wait_for(lambda: holder() == "agent-b", 20)
        for i in range(5, 8):
            api.put("v1", "events", core_event(f"e{i}"))
        assert wait_for(lambda: len(got("b")) == 3, 20)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
    assert set(got("a")) == {(f"e{i}", 1) for i in range(5)}
    assert set(got("b")) == {(f"e{i}", 1) for i in range(5, 8)}  # resumed: nothing of a's again
    assert max((got("a") + got("b")).values()) == 1
    assert api.count("list", "events") == 1
