"""The access-log example end to end: podlog, mtail and a real Prometheus server agree, exactly.

One nginx access log; podlog (``parser: nginx`` + a ``metrics`` rule) and an
mtail program both count requests by client, method, path and status. A
Prometheus server (Debian's package) started here on loopback scrapes both,
and its HTTP API (/api/v1/query) must return the same counts for each, equal
to the counts computed from the lines themselves.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import metrics_text, wait_for
from tests.drivers.http_sink import free_port

PROMETHEUS, MTAIL = shutil.which("prometheus"), shutil.which("mtail")

# Counts by IP, method, path and status, the way mtail's documentation example reads an access log.
MTAIL_PROGRAM = r"""
counter http_requests_total by remote, method, path, code

/^(?P<remote>\S+) \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<code>\d{3}) / {
  http_requests_total[$remote][$method][$path][$code]++
}
"""

Key = tuple[str, str, str, str]


def access_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ip = f"192.168.{rng.randint(0, 3)}.{rng.randint(1, 6)}"
        method = rng.choice(["GET", "GET", "POST", "PUT", "DELETE"])
        path = rng.choice(["/", "/login", "/api/v1/items", "/api/v1/items?page=2", "/static/app.js"])
        code = rng.choice([200, 200, 200, 201, 301, 404, 500])
        out.append(f'{ip} - - [01/May/2024:12:{i // 60 % 60:02d}:{i % 60:02d} +0000] "{method} {path} HTTP/1.1" '
                   f'{code} {rng.randint(0, 9999)} "-" "curl/8.{i % 3}"')
    return out


def expected(lines: list[str]) -> Counter[Key]:
    counts: Counter[Key] = Counter()
    for line in lines:
        request = line.split('"')[1].split()
        counts[(line.split()[0], request[0], request[1], line.split('"')[2].split()[0])] += 1
    return counts


def scrape(port: int) -> Counter[Key]:
    """http_requests_total by (remote, method, path, code) from a /metrics endpoint."""
    out: Counter[Key] = Counter()
    for fam in text_string_to_metric_families(metrics_text(port)):
        for s in fam.samples:
            if s.name == "http_requests_total":
                out[(s.labels["remote"], s.labels["method"], s.labels["path"], s.labels["code"])] += int(s.value)
    return out


def query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.load(resp)
    except OSError:
        return []
    assert body["status"] == "success", body
    return body["data"]["result"]


def by_key(result: list[dict]) -> Counter[Key]:
    return Counter({(r["metric"]["remote"], r["metric"]["method"], r["metric"]["path"], r["metric"]["code"]):
                    int(float(r["value"][1])) for r in result})


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.mark.skipif(PROMETHEUS is None or MTAIL is None,
                    reason="needs Debian's prometheus and mtail packages (scripts/test.sh installs them as root)")
def test_access_log_counts_agree_between_podlog_mtail_and_prometheus(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "access.log"
    log.write_text("")  # both readers follow it from its (empty) start, then the lines arrive
    podlog_port, mtail_port, prom_port = free_port(), free_port(), free_port()
    agent = agent_factory(f"""
agent: {{grace_period: 5s, http_listen: "127.0.0.1:{podlog_port}", data_dir: {tmp_path}/data}}
sources:
  - type: tail
    tag: access
    path: [{log}]
    pos_file: {tmp_path}/pos.json
    read_from_head: true
    stat_interval: 0.1s
    container_format: none
    parser: nginx
filters:
  - type: metrics
    rules:
      - name: http_requests_total
        type: counter
        help: HTTP requests by client, method, path and status.
        labels: [remote, method, path, code]
outputs:
  - type: "null"
""").start()
    progs = tmp_path / "progs"
    progs.mkdir()
    (progs / "access.mtail").write_text(MTAIL_PROGRAM)
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    (prom_dir / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: podlog
    static_configs: [{{targets: ["127.0.0.1:{podlog_port}"]}}]
  - job_name: mtail
    static_configs: [{{targets: ["127.0.0.1:{mtail_port}"]}}]
""")
    with open(tmp_path / "mtail.log", "wb") as mlog, open(tmp_path / "prometheus.log", "wb") as plog:
        mtail = subprocess.Popen([MTAIL, "--progs", str(progs), "--logs", str(log), "--address", "127.0.0.1",
                                  "--port", str(mtail_port), "--logtostderr"], stdout=mlog, stderr=mlog)
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={prom_dir / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={prom_dir / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=plog, stderr=plog)
    try:
        assert wait_for(lambda: ready(prom_port), 60), (tmp_path / "prometheus.log").read_text()[-2000:]
        assert wait_for(lambda: _up(mtail_port), 30), (tmp_path / "mtail.log").read_text()[-2000:]
        lines = access_lines(3000, seed=11)
        with open(log, "a") as f:
            for i in range(0, len(lines), 500):  # appended in pieces, as a server writes
                f.write("".join(line + "\n" for line in lines[i:i + 500]))
                f.flush()
        want = expected(lines)
        assert len(want) > 100  # enough distinct label sets to catch a mix-up

        assert wait_for(lambda: scrape(podlog_port) == want, 60), "podlog's /metrics never showed the counts"
        assert wait_for(lambda: scrape(mtail_port) == want, 60), "mtail's /metrics never showed the counts"
        total = 'sum(http_requests_total{job="%s"})'
        for job in ("podlog", "mtail"):
            assert wait_for(lambda job=job: [float(r["value"][1]) for r in query(prom_port, total % job)] == [3000.0],
                            60), f"Prometheus never scraped all of {job}'s counts"
        from_podlog = by_key(query(prom_port, 'http_requests_total{job="podlog"}'))
        from_mtail = by_key(query(prom_port, 'http_requests_total{job="mtail"}'))
        assert from_podlog == from_mtail == want
    finally:
        for proc in (prom, mtail):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert agent.stop() == 0


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False
