"""10,000 idle connections to a running agent: held cheaply, the agent keeps serving, idle_timeout clears them.

The agent runs as a subprocess so each side has its own descriptor table.
The test raises its RLIMIT_NOFILE (the agent inherits it); if the hard limit
is too low it scales the count down to what fits and says so in the output.
"""

from __future__ import annotations

import resource
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fluent import sender

from tests.drivers.http_sink import free_port
from tests.inputs.push_helpers import wait_for

pytestmark = pytest.mark.slow
WANTED = 10_000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_ten_thousand_idle_connections(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = WANTED + 500
    if hard != resource.RLIM_INFINITY and hard < target:
        target = hard
    if soft == resource.RLIM_INFINITY or soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    count = min(WANTED, target - 500)
    if count < WANTED:
        print(f"RLIMIT_NOFILE hard limit {hard}: testing {count} idle connections instead of {WANTED}")
    port = free_port()
    out = tmp_path / "out.ndjson"
    config = tmp_path / "agent.yaml"
    config.write_text(f"""
sources:
  - {{type: forward, id: fwd, bind: 127.0.0.1, port: {port}, max_connections: {count + 100}, idle_timeout: 8s}}
outputs:
  - {{type: file, path: "{out}", buffer: {{flush_interval: 0.1s}}}}
""")
    log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen([sys.executable, "-m", "podlog", "agent", "-c", str(config)], stdout=log,
                             stderr=subprocess.STDOUT)
    socks: list[socket.socket] = []
    try:
        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        assert wait_for(listening, timeout=60), (tmp_path / "agent.log").read_text()
        before = rss_kib(agent.pid)
        started = time.monotonic()
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        opened = time.monotonic() - started
        # A real client is served behind them (accepts are in order, so all of them were accepted first).
        fluent = sender.FluentSender("live", host="127.0.0.1", port=port)
        assert fluent.emit("check", {"ok": True}), fluent.last_error
        fluent.close()
        assert wait_for(lambda: out.exists() and b'"ok":true' in out.read_bytes(), timeout=60)
        grown_mib = (rss_kib(agent.pid) - before) / 1024
        print(f"{count} idle connections opened in {opened:.1f}s; agent RSS grew by {grown_mib:.0f} MiB")
        assert agent.poll() is None
        assert grown_mib < 150  # a few KiB per connection, not a thread each
        # idle_timeout closes every one of them
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        closed = 0
        deadline = time.monotonic() + 120
        while closed < count and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                sel.unregister(key.fileobj)
                closed += 1
        sel.close()
        assert closed == count
    finally:
        for s in socks:
            s.close()
        agent.terminate()
        agent.wait(60)
        log.close()
    assert agent.returncode == 0
    assert "idle_timeout: closed" in (tmp_path / "agent.log").read_text()
