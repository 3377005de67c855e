"""Self-monitoring on one port: /metrics, /healthz, /readyz and /status.

* ``/metrics``: Prometheus text from the engine's registry (event counters plus
  the live state ``StateCollector`` reads at scrape time).
* ``/healthz``: liveness. 200 while the engine's main loop ticked in the last
  5 s; a wedged agent gets restarted by the kubelet.
* ``/readyz``: readiness. 200 once started, while every output's flush threads
  run and shutdown has not begun.
* ``/status``: the same state as JSON, read by ``podlog status``.

A stdlib threading server is enough: scrapes are rare and small, and it keeps
the agent free of a web framework.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["StatusServer", "serve"]

log = logging.getLogger("podlog.http")


class Monitored(Protocol):
    """What the server needs from the engine."""

    def status(self) -> dict[str, Any]: ...

    @property
    def metrics(self) -> Any: ...


class _Server(ThreadingHTTPServer):
    def get_request(self) -> Any:
        """Out of descriptors, accept fails while the listening socket stays readable: without a pause the
        serving thread would spin at 100% CPU until a descriptor frees."""
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                time.sleep(0.1)
            raise


class StatusServer:
    def __init__(self, engine: Monitored, host: str, port: int) -> None:
        self.engine = engine
        self.httpd = _Server((host, port), _handler(engine))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http-status", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(engine: Monitored, listen: str) -> StatusServer:
    """Start serving on ``host:port`` (``:9880`` means all interfaces)."""
    host, _, port = listen.rpartition(":")
    server = StatusServer(engine, host.strip("[]") or "0.0.0.0", int(port))
    log.info("serving /metrics, /healthz, /readyz, /status on %s:%d", host or "0.0.0.0", server.port)
    return server


def _ready(state: dict[str, Any]) -> bool:
    return bool(state["started"] and not state["stopping"] and all(o["running"] for o in state["outputs"]))


def _handler(engine: Monitored) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    registry: CollectorRegistry = engine.metrics.registry
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    alive = engine.status()["alive"]
                    self._send(200 if alive else 503, b"ok\n" if alive else b"main loop stalled\n")
                elif path == "/readyz":
                    ready = _ready(engine.status())
                    self._send(200 if ready else 503, b"ready\n" if ready else b"not ready\n")
                elif path == "/status":
                    self._send(200, orjson.dumps(engine.status()), "application/json")
                else:
                    self._send(404, b"not found: try /metrics /healthz /readyz /status\n")
            except Exception:  # a scrape must never take the agent down
                log.exception("error serving %s", path)
                self._send(500, b"internal error\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    return Handler
