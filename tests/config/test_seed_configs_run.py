"""The seed fluent.conf files run as written: real ``podlog agent`` processes, real files, the ES double.

The fixtures name absolute paths (``/var/log/...``) and an Elasticsearch host called ``elasticsearch`` on
port 9200, as users write them. To run them byte for byte, the agent gets its own user and mount namespaces
(``unshare``): a temporary directory is mounted on ``/var/log`` and a hosts file naming ``elasticsearch`` on
``/etc/hosts``. The ES double listens on port 9200 of a loopback address of its own (127.x.y.z), so nothing
else on the machine is disturbed. Where the kernel forbids unprivileged user namespaces, the test runs a copy
of the fixture in which only the ``/var/log/`` prefix, the host and the port are replaced, and says so.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.conftest import wait_for
from tests.drivers.es_double import EsDouble

FIXTURES = Path(__file__).parent / "fixtures"
SEED000 = FIXTURES / "seed000_sidecar_es.conf"
SEED003 = FIXTURES / "seed003_stdout.conf"
PODLOG = [sys.executable, "-m", "podlog"]
MOUNT = 'mount --bind "$1" /var/log && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"'
# Fluentd's stdout look, which a fluent.conf stdout store keeps: "<time> <tag>: <record>"
STDOUT_LINE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 (?P<tag>[^:]+): (?P<record>\{.*\})$")


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:  # e.g. a real Elasticsearch on 0.0.0.0:9200
            return False
    return True


def _namespaces_work(tmp: Path, es_host: str) -> bool:
    """Can we mount over /var/log and /etc/hosts in a private user + mount namespace, and take port 9200?"""
    if shutil.which("unshare") is None or not Path("/var/log").is_dir() or not _free(es_host, 9200):
        return False
    probe = tmp / "probe"
    probe.mkdir()
    hosts = tmp / "probe-hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    argv = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT, "sh", str(probe), str(hosts),
            "true"]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0


@dataclass
class Node:
    """A pretend node: its /var/log is ``varlog``; ``elasticsearch`` resolves to ``es_host``."""

    tmp: Path
    varlog: Path
    es_host: str
    es_port: int
    as_written: bool  # True: the fixture runs unchanged, in namespaces

    def path(self, inside: str) -> Path:
        """Where a path the agent sees (``/var/log/...``) is for the test."""
        return self.varlog / Path(inside).relative_to("/var/log")

    def argv(self, fixture: Path) -> list[str]:
        if self.as_written:
            hosts = self.tmp / "hosts"
            hosts.write_text(f"127.0.0.1 localhost\n{self.es_host} elasticsearch\n")
            return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT, "sh", str(self.varlog),
                    str(hosts), *PODLOG, "agent", "-c", str(fixture)]
        text = fixture.read_text().replace("/var/log/", f"{self.varlog}/")
        text = text.replace("host elasticsearch", f"host {self.es_host}").replace("port 9200", f"port {self.es_port}")
        copy = self.tmp / fixture.name
        copy.write_text(text)
        return [*PODLOG, "agent", "-c", str(copy)]

    def seen_as(self, inside: str) -> str:
        """The path as the agent prints it."""
        return inside if self.as_written else str(self.path(inside))


@pytest.fixture
def node(tmp_path: Path) -> Node:
    varlog = tmp_path / "varlog"
    varlog.mkdir()
    rng = random.Random()
    host = f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    as_written = _namespaces_work(tmp_path, host)
    return Node(tmp_path, varlog, host, 9200 if as_written else 0, as_written)


@pytest.fixture
def es(node: Node) -> Iterator[EsDouble]:
    double = EsDouble("es8", host=node.es_host, port=node.es_port)
    with double:
        node.es_port = double.port
        yield double


class Agent:
    """``podlog agent -c FIXTURE`` on the node; stdout and stderr kept in files."""

    def __init__(self, node: Node, fixture: Path) -> None:
        self.out = node.tmp / "agent.out"
        self.err = node.tmp / "agent.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:  # the child keeps its own descriptors
            self.proc = subprocess.Popen(node.argv(fixture), stdout=out, stderr=err,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def log(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_following(self, *paths: str) -> None:
        assert wait_for(lambda: all(f"following {p} from offset" in self.log() for p in paths), 30), self.log()

    def stdout_lines(self) -> list[tuple[str, dict]]:
        data = self.out.read_bytes()
        found = []
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            m = STDOUT_LINE.match(line)
            assert m, line
            found.append((m["tag"].decode(), orjson.loads(m["record"])))
        return found

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, self.log()[-3000:]


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for a in started:
        if a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()


def docker_line(app: dict, when: str) -> bytes:
    """A docker json-file line, as the kubelet's runtime writes it."""
    return orjson.dumps({"log": orjson.dumps(app).decode() + "\n", "stream": "stdout", "time": when}) + b"\n"


def container_log(node: Node, name: str) -> Path:
    """/var/log/containers/NAME -> /var/log/pods/.../0.log, as on a node; returns the real file."""
    target = f"/var/log/pods/prices_{name}_0f3e/app/0.log"
    real = node.path(target)
    real.parent.mkdir(parents=True)
    real.touch()
    link = node.path(f"/var/log/containers/{name}")
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(node.seen_as(target))
    return real


def instant(rfc3339: str) -> tuple[str, str]:
    """Seconds and nanoseconds of a UTC time, whatever digits of fraction it is written with."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", rfc3339)
    assert m, rfc3339
    return m[1], (m[2] or "").ljust(9, "0")


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


# -- seed 000: one tail source, @label @TO_ES, copy to Elasticsearch and stdout


def test_seed000_sidecar_to_elasticsearch_and_stdout(node: Node, es: EsDouble, agents: list[Agent]) -> None:
    api = container_log(node, "myapp-namespaces-api.log")
    worker = container_log(node, "myapp-namespaces-worker.log")
    other = container_log(node, "otherapp-namespaces-api.log")  # outside the path glob
    append(api, docker_line({"msg": "before the agent"}, "2024-04-30T23:00:00.000000001Z"))  # read_from_head false

    agents.append(agent := Agent(node, SEED000))
    agent.wait_following(node.seen_as("/var/log/containers/myapp-namespaces-api.log"),
                         node.seen_as("/var/log/containers/myapp-namespaces-worker.log"))
    sent = {}
    for i in range(300):
        path, day = (api, "01") if i % 2 else (worker, "02")
        app = {"level": "info", "msg": f"request {i}", "n": i, "path": "/api/v1/prices"}
        when = f"2024-05-{day}T12:00:{i % 60:02d}.{i:09d}Z"
        sent[i] = (app, when, day)
        append(path, docker_line(app, when))
    append(other, docker_line({"msg": "not mine"}, "2024-05-01T00:00:00Z"))
    assert wait_for(lambda: len(es.documents()) >= len(sent), 60), agent.log()[-3000:]
    agent.stop()

    documents = es.documents()
    assert len(documents) == len(sent)
    bulk = es.bulk_requests
    assert sum(r.doc_count for r in bulk) == len(sent)  # each document sent once
    assert Counter(s for r in bulk for s in r.item_statuses) == Counter({201: len(sent)})
    for doc in documents:
        app = orjson.loads(doc["log"])  # the json parser keeps the docker envelope's fields, as Fluentd does
        expected_app, when, day = sent[app["n"]]
        assert app == expected_app
        assert doc["stream"] == "stdout"
        assert instant(doc["@timestamp"]) == instant(when)  # time_format ...%NZ read the envelope's time
        assert doc["_index"] == f"logstash-2024.05.{day}"  # logstash_format true: by the record's date
    assert sorted(es.indices()) == ["logstash-2024.05.01", "logstash-2024.05.02"]

    printed = agent.stdout_lines()
    assert {tag for tag, _ in printed} == {"kubernetes.mynodejs.api_server"}
    assert sorted(orjson.loads(r["log"])["n"] for _, r in printed) == sorted(sent)
    positions = node.path("/var/log/mynodejs.log.pos")
    assert positions.exists()  # written by the agent, under the node's /var/log
    assert "myapp-namespaces-api.log" in positions.read_text()


# -- seed 003: the agent sidecar, legacy `type tail` / `format none`, two files, <match **> stdout


def test_seed003_two_legacy_sources_to_stdout(node: Node, agents: list[Agent]) -> None:
    one, two = node.path("/var/log/1.log"), node.path("/var/log/2.log")
    one.touch()
    two.touch()
    agents.append(agent := Agent(node, SEED003))
    agent.wait_following(node.seen_as("/var/log/1.log"), node.seen_as("/var/log/2.log"))
    for i in range(100):  # the counter pods of the classic example
        append(one, f"{i}: {i} 2024-05-01T12:00:00Z\n".encode())
        append(two, f"Wed May  1 12:00:00 UTC 2024 INFO {i}\n".encode())
    assert wait_for(lambda: len(agent.stdout_lines()) >= 200, 60), agent.log()[-3000:]
    agent.stop()

    printed = agent.stdout_lines()
    assert len(printed) == 200
    by_tag = {"count.format1": [], "count.format2": []}
    for tag, record in printed:
        by_tag[tag].append(record["message"])  # format none: the whole line in "message"
    assert by_tag["count.format1"] == [f"{i}: {i} 2024-05-01T12:00:00Z" for i in range(100)]
    assert by_tag["count.format2"] == [f"Wed May  1 12:00:00 UTC 2024 INFO {i}" for i in range(100)]
    for pos in ("/var/log/1.log.pos", "/var/log/2.log.pos"):
        assert node.path(pos).exists()


# -- the dry run on the same fixtures (paths do not matter to it: nothing is opened)


def test_check_input_on_the_seed_fixtures(tmp_path: Path) -> None:
    sample = tmp_path / "sample.log"
    sample.write_bytes(docker_line({"level": "warn", "msg": "slow"}, "2024-05-01T12:00:00.5Z") + b"plain text\n")
    run = subprocess.run([*PODLOG, "check", "-c", str(SEED000), "--input", str(sample), "--json"],
                         capture_output=True, timeout=60, check=True)
    first, second = (orjson.loads(line) for line in run.stdout.splitlines())
    assert orjson.loads(first["records"][0]["log"]) == {"level": "warn", "msg": "slow"}
    assert [(o["type"], o["match"]) for o in first["outputs"]] == [("elasticsearch", "kubernetes.*.*"),
                                                                     ("stdout", "kubernetes.*.*")]
    assert "parse_error" in second["records"][0] and len(second["outputs"]) == 2

    run = subprocess.run([*PODLOG, "check", "-c", str(SEED003), "--input", str(sample), "--tag", "count.format2"],
                         capture_output=True, timeout=60, check=True)
    text = run.stdout.decode()
    assert f"{SEED003}: OK (2 sources, 1 outputs)" in text
    assert "lines as read by source tail.1 (tail), tag count.format2" in text
    assert text.count("  -> stdout.0 (stdout) via <match **>, tag count.format2") == 2
