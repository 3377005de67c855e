"""The store writer in its own process: a chunk is answered only after the commit holding it, a child killed
with -9 fails what it had not committed (written again into a new child, no hang) and loses nothing it had
answered, the child never outlives the agent, and a chunk it cannot add comes back with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("tantivy")

from podlog.store.process import WriterProcess
from podlog.store.reader import StoreReader
from tests.conftest import wait_for
from tests.store.helpers import BASE_MS, record

ROOT = Path(__file__).resolve().parents[2]


def _config(path: Path, **settings: Any) -> dict[str, Any]:
    return {"path": str(path), "layout": {"labels": ["app"], "fields": {}, "all_fields": False},
            "commit_interval": 3600.0, "commit_docs": 1000, **settings}


def _chunk(first: int, n: int) -> list[tuple[list[bytes], str | None, list[int] | None]]:
    docs = [orjson.dumps(record(BASE_MS + i, f"record {i}", i=i)) for i in range(first, first + n)]
    return [(docs, "src-a", list(range(first, first + n)))]


def _stored(path: Path) -> set[int]:
    reader = StoreReader(str(path), reload_interval=0)
    return {h["fields"]["i"] for h in reader.export("", BASE_MS - 1000, BASE_MS + 10_000_000)}


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper counts: it runs nothing and holds no lock)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_chunk_is_answered_only_after_the_commit_that_holds_it(tmp_path: Path) -> None:
    writer = WriterProcess(_config(tmp_path / "store"))
    writer.start()
    try:
        small = writer.add_batches("kube.a", _chunk(0, 10))  # below commit_docs, commits hourly: not durable yet
        assert writer.wait(small, timeout=0.5) == "store commit did not happen in time"
        assert _stored(tmp_path / "store") == set()
        big = writer.add_batches("kube.a", _chunk(10, 1000))  # reaches commit_docs: one commit holds both
        assert writer.wait(big, timeout=60) is None
        assert _stored(tmp_path / "store") == set(range(1010))
    finally:
        writer.close()


def test_kill_9_of_the_child_fails_what_it_had_not_committed_and_a_new_child_takes_over(tmp_path: Path) -> None:
    store = tmp_path / "store"
    writer = WriterProcess(_config(store), restart_delay=0)
    writer.start()
    try:
        first = writer.add_batches("kube.a", _chunk(0, 1000))
        assert writer.wait(first, timeout=60) is None  # answered: must survive the kill
        pending = writer.add_batches("kube.a", _chunk(1000, 10))
        child = writer.pid
        assert child is not None
        os.kill(child, signal.SIGKILL)
        started = time.monotonic()
        reason = writer.wait(pending, timeout=60)
        assert reason is not None and "exited" in reason  # a clear failure, not a hang
        assert time.monotonic() - started < 30
        assert wait_for(lambda: _gone(child), 10)
        # The delivery layer writes the failed chunk again: a new child takes it.
        again = writer.add_batches("kube.a", _chunk(1000, 1000))
        assert writer.pid not in (None, child)
        assert writer.wait(again, timeout=60) is None
        assert writer.restarts == 1
        assert _stored(store) == set(range(2000))
    finally:
        writer.close()


def test_the_child_never_outlives_the_agent(tmp_path: Path) -> None:
    store = tmp_path / "store"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import orjson
        from podlog.store.process import WriterProcess
        from tests.store.test_process import _chunk, _config
        from pathlib import Path
        writer = WriterProcess(_config(Path({str(store)!r})))
        writer.start()
        number = writer.add_batches("kube.a", _chunk(0, 1000))
        assert writer.wait(number, timeout=60) is None
        writer.add_batches("kube.a", _chunk(1000, 10))  # never committed, never acknowledged
        print(writer.pid, flush=True)
        time.sleep(600)
    """)
    agent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert agent.stdout is not None
        child = int(agent.stdout.readline())
        agent.kill()  # kill -9: no goodbye, no cleanup
        agent.wait(30)
        assert wait_for(lambda: _gone(child), 30), "the writer child outlived the agent"
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(30)
        if agent.stdout is not None:
            agent.stdout.close()
    # What was acknowledged is there, and the store's lock is free for the restarted agent's writer.
    writer = WriterProcess(_config(store))
    writer.start()
    try:
        assert set(range(1000)) <= _stored(store)
    finally:
        writer.close()


def test_a_chunk_the_child_cannot_add_comes_back_with_the_reason(tmp_path: Path) -> None:
    writer = WriterProcess(_config(tmp_path / "store", commit_interval=0.2))
    writer.start()
    try:
        bad = writer.add_batches("kube.a", [(["text where bytes belong"], None, None)])  # type: ignore[list-item]
        reason = writer.wait(bad, timeout=60)
        assert reason is not None and reason.startswith("store writer: AttributeError")
        good = writer.add_batches("kube.a", _chunk(0, 5))  # the child carries on
        assert writer.wait(good, timeout=60) is None
        assert writer.restarts == 0
        assert _stored(tmp_path / "store") == set(range(5))
    finally:
        writer.close()
