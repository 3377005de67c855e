"""A local HTTP log sink for end-to-end tests: it can be down, slow, failing, or refuse chosen records.

It accepts POSTs of NDJSON or a JSON array (optionally gzip), remembers every
accepted record's ``message`` (so tests count losses and duplicates), and
keeps its port across ``down()``/``up()`` so the agent's config stays valid.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HttpSink", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients killed mid-request (kill -9 tests) are expected: no traceback noise."""


class HttpSink:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/ingest"
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()  # message -> times accepted
        self.rejected: Counter[str] = Counter()  # message -> times refused with 400
        self.requests = 0
        self.delay = 0.0  # seconds per request (slow sink)
        self.fail_status = 0  # answer every request with this (e.g. 503)
        self.reject_marker = "POISON"  # a request holding this text gets 400
        self._server: _Server | None = None
        self._conns: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------

    def up(self) -> HttpSink:
        for _ in range(50):  # the port may linger briefly after down()
            try:
                self._server = _Server(("127.0.0.1", self.port), self._handler())
                break
            except OSError:
                time.sleep(0.1)
        assert self._server is not None, "sink could not bind its port"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening and cut kept-alive connections: the agent sees connection errors."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())

    def unique(self) -> set[str]:
        with self.lock:
            return set(self.received)

    def duplicates(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.received.values())

    # --- serving -----------------------------------------------------------------------

    def _accept(self, body: bytes) -> int:
        records = _decode(body)
        with self.lock:
            self.requests += 1
            if self.fail_status:
                return self.fail_status
            messages = [str(r.get("message", r)) if isinstance(r, dict) else str(r) for r in records]
            if any(self.reject_marker in m for m in messages):
                self.rejected.update(messages)
                return 400
            self.received.update(messages)
            return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as real HTTP servers set it: the status line and headers, then the body, go in two
            # writes, and Nagle would hold the body until the client's delayed ACK (40 ms per request).
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with sink.lock:
                    sink._conns.add(self.connection)

            def finish(self) -> None:
                with sink.lock:
                    sink._conns.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if sink.delay:
                    time.sleep(sink.delay)
                if sink._server is None:  # went down while this request was in flight
                    self.close_connection = True
                    return
                code = sink._accept(body)
                reply = b'{"ok":true}' if code == 200 else b'{"error":"refused"}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _decode(body: bytes) -> list[Any]:
    text = body.strip()
    if text.startswith(b"["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]
