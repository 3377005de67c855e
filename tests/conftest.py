"""Shared helpers: run real `podlog` processes against real files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

PODLOG = [sys.executable, "-m", "podlog"]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def daemonset_images() -> Path | None:
    """The fluentd-kubernetes-daemonset v1.19 image folders, as users bring them (never copied into the project).

    Found in ``$PODLOG_SHARED`` or the ``shared/`` folder beside the checkout (or beside a worktree's parent);
    tests that need it skip, saying so, where it is absent.
    """
    roots = [Path(os.environ["PODLOG_SHARED"])] if os.environ.get("PODLOG_SHARED") else []
    repo = Path(__file__).resolve().parents[1]
    roots += [repo.parent / "shared", repo.parent.parent / "shared"]
    for root in roots:
        images = root / "compat" / "fluentd-kubernetes-daemonset" / "docker-image" / "v1.19"
        if images.is_dir():
            return images.resolve()
    return None


NO_IMAGES = ("the fluentd-kubernetes-daemonset corpus is not there (shared/compat/fluentd-kubernetes-daemonset "
             "beside the checkout, or set PODLOG_SHARED)")


def metrics_text(port: int, timeout: float = 5.0) -> str:
    """The Prometheus text a local /metrics endpoint serves now; empty while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def read_ndjson(path: Path) -> list[dict]:
    """Every complete JSON line of ``path`` (and of ``path``'s directory files, if a directory)."""
    # is_file, not exists: an output directory created between the two checks must not be read as a file
    files = sorted(path.rglob("*.ndjson")) if path.is_dir() else [path] if path.is_file() else []
    out = []
    for f in files:
        data = f.read_bytes()
        # A line still being written (no newline yet) is not a record yet: writes are not atomic for readers.
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            if line.strip():
                out.append(orjson.loads(line))
    return out


class Agent:
    """A `podlog agent` subprocess."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Agent:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([*PODLOG, "agent", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                         stderr=log, env=env)
        return self

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def status(self) -> dict:
        """The agent's /status (its config sets agent: {http_listen: '127.0.0.1:0'}); {} while it does not answer."""
        text = self.log.read_text() if self.log.exists() else ""
        if "/status on " not in text:
            return {}
        port = int(text.rsplit("/status on ", 1)[1].split(":", 1)[1].split()[0])  # the latest agent's
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as resp:
                return orjson.loads(resp.read())
        except OSError:
            return {}

    def read_bytes(self) -> int:
        """Bytes its first input has read so far (-1 while /status does not answer)."""
        return int(self.status().get("inputs", [{}])[0].get("bytes", -1))


@pytest.fixture
def agent_factory(tmp_path: Path) -> Callable[[str], Agent]:
    agents: list[Agent] = []

    def make(config_text: str) -> Agent:
        cfg = tmp_path / f"agent{len(agents)}.yaml"
        cfg.write_text(config_text)
        a = Agent(cfg, tmp_path / "agent.log")
        agents.append(a)
        return a

    yield make
    for a in agents:
        if a.proc is not None and a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()
