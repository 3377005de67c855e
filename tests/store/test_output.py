"""The ``store`` output in a real agent process: records land with their file offsets (exact context), and a
kill -9 loses no acknowledged record (the tail checkpoint only moves past records whose commit is durable)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("tantivy")

from podlog.store.reader import StoreReader
from tests.conftest import Agent, wait_for


def _config(tmp_path: Path, logs: Path, store: Path, extra: str = "") -> str:
    return f"""
agent:
  grace_period: 10s
sources:
  - type: tail
    tag: app.*
    path: ["{logs}/*.log"]
    pos_file: "{tmp_path}/pos"
    read_from_head: true
    checkpoint_interval: 0.1s
    parser: json
    {extra}
outputs:
  - type: store
    match: "**"
    path: "{store}"
    commit_interval: 0.3s
    buffer:
      flush_interval: 0.1s
"""


def _seqs(store: Path) -> set[int]:
    reader = StoreReader(str(store), reload_interval=0)
    return {h["fields"]["i"] for h in reader.export("", 0, int(time.time() * 1000) + 60_000)}


def _checkpoint(tmp_path: Path) -> int:
    try:
        data = json.loads((tmp_path / "pos").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return sum(entry["offset"] for entry in data["files"].values())


def test_records_keep_their_file_offsets_for_context(tmp_path: Path,
                                                     agent_factory: Callable[[str], Agent]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [json.dumps({"i": i, "msg": f"line {i}", "level": "error" if i % 10 == 0 else "info"}) + "\n"
             for i in range(300)]
    (logs / "a.log").write_text("".join(lines))
    (logs / "b.log").write_text("".join(json.dumps({"i": 1000 + i, "msg": f"b {i}"}) + "\n" for i in range(50)))
    starts = [sum(len(x) for x in lines[:i]) for i in range(300)]
    agent = agent_factory(_config(tmp_path, logs, tmp_path / "store", "exit_on_eof: true")).start()
    assert agent.wait(60) == 0
    reader = StoreReader(str(tmp_path / "store"), reload_interval=0)
    now = int(time.time() * 1000)
    hit = reader.search('"line 150"', now - 60_000, now + 1000, size=1)["hits"][0]
    assert hit["offset"] == starts[150]
    context = reader.context(hit["id"], before=3, after=3)
    assert [h["fields"]["i"] for h in context["before"]] == [147, 148, 149]
    assert [h["fields"]["i"] for h in context["after"]] == [151, 152, 153]
    assert [h["offset"] for h in context["after"]] == starts[151:154]
    assert reader.search("level:error", now - 60_000, now + 1000, size=0)["total"] == 30
    assert reader.stats()["docs"] == 350


def test_kill_9_loses_no_acknowledged_record(tmp_path: Path, agent_factory: Callable[[str], Agent]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    log_file = logs / "a.log"
    starts: list[int] = []
    size = 0

    def append(first: int, n: int) -> None:
        nonlocal size
        with open(log_file, "a") as f:
            for i in range(first, first + n):
                line = json.dumps({"i": i, "msg": f"record {i} " + "x" * 80}) + "\n"
                starts.append(size)
                size += len(line)
                f.write(line)

    agent = agent_factory(_config(tmp_path, logs, store)).start()
    written = 0
    # Write while the agent reads, until it has acknowledged some but (likely) not all of it, then kill -9.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        append(written, 500)
        written += 500
        if _checkpoint(tmp_path) > 0 and written >= 5000:
            break
        time.sleep(0.02)
    append(written, 2000)
    written += 2000
    agent.kill()
    acked = _checkpoint(tmp_path)
    assert acked > 0
    acked_records = {i for i, start in enumerate(starts) if start < acked}
    stored = _seqs(store)
    missing = acked_records - stored
    assert not missing, f"{len(missing)} acknowledged records missing after kill -9, e.g. {sorted(missing)[:5]}"

    # The restarted agent resumes at the checkpoint: in the end every record is stored (at least once).
    agent2 = agent_factory(_config(tmp_path, logs, store, "exit_on_eof: true")).start()
    assert agent2.wait(120) == 0
    assert wait_for(lambda: _seqs(store) >= set(range(written)), 30)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_process_reads_while_the_agent_writes(tmp_path: Path, agent_factory: Callable[[str], Agent]) -> None:
    import subprocess
    import urllib.request

    from tests.conftest import PODLOG

    logs = tmp_path / "logs"
    logs.mkdir()
    log_file = logs / "a.log"
    log_file.write_text("".join(json.dumps({"i": i, "msg": "first"}) + "\n" for i in range(100)))
    agent = agent_factory(_config(tmp_path, logs, tmp_path / "store")).start()
    assert wait_for(lambda: _checkpoint(tmp_path) > 0, 30)
    port = _free_port()
    serve = subprocess.Popen([*PODLOG, "serve", "--store", str(tmp_path / "store"), "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def docs(q: str = "") -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?size=0&from=now-1h&q={q}",
                                        timeout=5) as r:
                return int(json.load(r)["total"])
        except OSError:
            return -1

    try:
        assert wait_for(lambda: docs() == 100, 30)
        with open(log_file, "a") as f:
            f.write("".join(json.dumps({"i": i, "msg": "second"}) + "\n" for i in range(100, 150)))
        assert wait_for(lambda: docs("second") == 50, 30)  # the writer's next commits, seen by the other process
        assert docs() == 150
    finally:
        serve.terminate()
        serve.wait(10)
        agent.stop()
