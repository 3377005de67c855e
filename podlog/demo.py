"""A demo workload for ``podlog up``: pods that log like the classic examples, as kubelet's CRI files.

Written under ``<root>/containers/<pod>_<namespace>_<container>-<id>.log`` with CRI envelopes, as the node
agent finds them in ``/var/log/containers``:

- ``counter``: the counter app writing ``1.log`` (``i: date``) and ``2.log`` (``date INFO i``); its two
  streaming sidecars (``count-log-1``, ``count-log-2``, ``tail -n+1 -F``) put each file on their stdout.
- ``myapp``: ``date INFO hello`` in a file, streamed by its ``sidecar`` container.
- ``api`` (namespace ``shop``): JSON lines with levels, paths, statuses and latencies, some errors, and now
  and then a Java stack trace on stderr.
- ``nginx`` (namespace ``shop``): access lines in nginx's combined format, some 4xx/5xx.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["DemoWorkload"]

_ID = "{:064x}"
_PODS = {
    "count-log-1": ("counter", "default", 1),
    "count-log-2": ("counter", "default", 2),
    "sidecar": ("myapp", "default", 3),
    "api": ("api-7d9f8b6c4-x2kqp", "shop", 4),
    "nginx": ("nginx-6c5d4f9b8-7vq4m", "shop", 5),
}


def _cri(ts: str, stream: str, line: str) -> str:
    return f"{ts} {stream} F {line}\n"


class DemoWorkload:
    """Appends a few records per second per container (``rate`` ticks/s) until stopped."""

    def __init__(self, root: str, rate: float = 5.0, seed: int | None = None, rotate_bytes: int = 5_000_000) -> None:
        self.root = Path(root)
        self.dir = self.root / "containers"
        self.rate = rate
        self.rng = random.Random(seed)
        self.rotate_bytes = rotate_bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.i = 0

    def path(self, container: str) -> Path:
        pod, namespace, n = _PODS[container]
        return self.dir / f"{pod}_{namespace}_{container}-{_ID.format(n)}.log"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="demo-workload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(1 / self.rate):
            self.tick()

    def tick(self) -> None:
        """One round: a line from every container (several from the busy ones)."""
        now = datetime.now(timezone.utc)
        ts = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        date = now.strftime("%a %b %e %H:%M:%S UTC %Y")
        i, rng = self.i, self.rng
        lines: dict[str, list[str]] = {
            "count-log-1": [_cri(ts, "stdout", f"{i}: {date}")],
            "count-log-2": [_cri(ts, "stdout", f"{date} INFO {i}")],
            "sidecar": [_cri(ts, "stdout", f"{date} INFO hello")],
            "api": [self._api(ts, i + k) for k in range(rng.randint(1, 4))],
            "nginx": [self._nginx(ts, now) for _ in range(rng.randint(1, 3))],
        }
        if i % 37 == 17:
            lines["api"].extend(_cri(ts, "stderr", line) for line in _trace(i))
        for container, chunk in lines.items():
            path = self.path(container)
            with open(path, "a") as f:
                f.write("".join(chunk))
            if path.stat().st_size > self.rotate_bytes:  # kubelet rotates by renaming
                os.replace(path, f"{path}.{int(time.time())}")
        self.i += 1

    def _api(self, ts: str, i: int) -> str:
        rng = self.rng
        status = rng.choices([200, 201, 204, 404, 500, 503], [60, 10, 5, 12, 8, 5])[0]
        level = "error" if status >= 500 else "warn" if status >= 400 else rng.choice(["info", "info", "debug"])
        body = {"level": level, "msg": "payment failed: upstream timeout" if status == 503 else
                "order lookup failed" if status == 500 else "request handled",
                "method": rng.choice(["GET", "GET", "POST", "PUT"]), "path": f"/api/orders/{rng.randint(1, 500)}",
                "status": status, "latency_ms": round(rng.lognormvariate(3, 0.8), 1),
                "user": f"user-{rng.randint(1, 40)}", "request_id": f"{rng.getrandbits(48):012x}"}
        return _cri(ts, "stdout", json.dumps(body))

    def _nginx(self, ts: str, now: datetime) -> str:
        rng = self.rng
        status = rng.choices([200, 301, 304, 404, 499, 502], [70, 5, 10, 10, 2, 3])[0]
        when = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
        path = rng.choice(["/", "/index.html", "/static/app.js", "/api/orders", "/favicon.ico", "/login"])
        agent = rng.choice(["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "kube-probe/1.29"])
        ip = f"10.244.{rng.randint(0, 3)}.{rng.randint(2, 250)}"
        line = (f'{ip} - - [{when}] "{rng.choice(["GET", "GET", "POST"])} {path} HTTP/1.1" {status} '
                f'{rng.randint(120, 48000)} "-" "{agent}"')
        return _cri(ts, "stdout", line)


def _trace(i: int) -> list[str]:
    return [f'Exception in thread "http-nio-8080-exec-{i % 8}" java.lang.IllegalStateException: order {i} has '
            "no items",
            "\tat com.shop.orders.OrderService.checkout(OrderService.java:88)",
            "\tat com.shop.api.OrderController.post(OrderController.java:41)",
            "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
            "Caused by: java.lang.NullPointerException: items is null",
            "\tat com.shop.orders.Cart.items(Cart.java:17)",
            "\t... 3 more"]
