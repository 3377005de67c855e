"""Throughput and CPU cost of the push inputs: forward (PackedForward, 1,000-record chunks) and HTTP (NDJSON,
1 MB bodies), from a load generator on loopback into a real ``podlog agent``.

The agent runs as a subprocess (forward and http sources, a ``null`` output
behind a memory buffer, so every answer waits for a delivery, as in
production); this process generates the load. Forward: 4 connections, each
with up to 8 chunks awaiting their ``ack`` (Fluent Bit's require_ack style).
HTTP: 4 connections posting 1 MB NDJSON bodies one after another (each
answered once its records are delivered). Records are ~200-byte container-log
shaped objects. records/s is wall clock from the first byte to the last
answer; CPU-µs per record is the agent's CPU time (user + system, from
/proc) over the records, so the load generator's own cost is not counted.

Run: ``python bench/bench_push.py [records]`` (default 200,000 per input).
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_WORDS = ("request", "served", "user", "cache", "miss", "upstream", "timeout", "ok", "GET", "POST", "db", "retry")
CONNECTIONS = 4
OUTSTANDING = 8


def records(n: int, seed: int = 5) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    return [{"stream": "stdout", "level": rnd.choice(("info", "warn", "error")),
             "message": " ".join(rnd.choice(_WORDS) for _ in range(8)),
             "kubernetes": {"namespace_name": "prod", "pod_name": f"api-{i % 7}", "container_name": "api"}}
            for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agent_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_agent(work: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    fwd, web = free_port(), free_port()
    config = work / "agent.yaml"
    config.write_text(f"""
sources:
  - {{type: forward, id: fwd, bind: 127.0.0.1, port: {fwd}}}
  - {{type: http, id: web, bind: 127.0.0.1, port: {web}}}
outputs:
  - {{type: "null", buffer: {{flush_interval: 0.05s, chunk_limit_size: 4MiB, total_limit_size: 256MiB}}}}
""")
    proc = subprocess.Popen([sys.executable, "-m", "podlog", "agent", "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=(work / "agent.log").open("wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", web), timeout=1).close()
            socket.create_connection(("127.0.0.1", fwd), timeout=1).close()
            return proc, fwd, web
        except OSError:
            time.sleep(0.1)
    raise SystemExit((work / "agent.log").read_text())


def forward_load(port: int, total: int) -> None:
    """PackedForward chunks of 1,000 records with ``chunk`` options; waits for every ack."""
    sample = records(1000)
    now = int(time.time())
    packed = b"".join(msgpack.packb([msgpack.ExtType(0, now.to_bytes(4, "big") + i.to_bytes(4, "big")), r])
                      for i, r in enumerate(sample))
    chunks = total // 1000
    per_conn = [chunks // CONNECTIONS + (1 if i < chunks % CONNECTIONS else 0) for i in range(CONNECTIONS)]

    def connection(n: int, c: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            unp = msgpack.Unpacker(raw=False)
            sent = acked = 0
            while acked < n:
                while sent < n and sent - acked < OUTSTANDING:
                    sock.sendall(msgpack.packb(["bench.fwd", packed, {"chunk": f"{c}-{sent}", "size": 1000}],
                                               use_bin_type=True))
                    sent += 1
                unp.feed(sock.recv(65536))
                acked += sum(1 for _ in unp)

    threads = [threading.Thread(target=connection, args=(n, c)) for c, n in enumerate(per_conn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def http_load(port: int, total: int) -> int:
    """1 MB NDJSON bodies; returns the records sent (whole bodies)."""
    lines = [orjson.dumps(r) for r in records(20_000)]
    body_lines: list[bytes] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > 1_000_000:
            break
        body_lines.append(line)
        size += len(line) + 1
    body = b"\n".join(body_lines) + b"\n"
    per_body = len(body_lines)
    bodies = max(1, total // per_body)
    counts = [bodies // CONNECTIONS + (1 if i < bodies % CONNECTIONS else 0) for i in range(CONNECTIONS)]

    def connection(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(n):
            conn.request("POST", "/bench.http", body=body, headers={"Content-Type": "application/x-ndjson"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise SystemExit(f"HTTP {resp.status}")
        conn.close()

    threads = [threading.Thread(target=connection, args=(n,)) for n in counts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return bodies * per_body


def measure(name: str, pid: int, run: object) -> None:
    cpu0, t0 = agent_cpu(pid), time.perf_counter()
    n = run()  # type: ignore[operator]
    wall, cpu = time.perf_counter() - t0, agent_cpu(pid) - cpu0
    print(f"{name:<34} {n:>9,} records {n / wall:>11,.0f} records/s {cpu / n * 1e6:>7.2f} agent CPU-µs/record")


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    load = os.getloadavg()[0]
    print(f"push inputs, {total:,} records each, load average {load:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        proc, fwd, web = start_agent(Path(tmp))
        try:
            forward_load(fwd, 2000)  # warm up (imports, first chunks)
            http_load(web, 1)
            measure("forward PackedForward 1,000/chunk", proc.pid,
                    lambda: (forward_load(fwd, total), total // 1000 * 1000)[1])
            measure("http NDJSON 1 MB bodies", proc.pid, lambda: http_load(web, total))
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
