"""Helpers for the push input tests: start an input on a free loopback port with a collecting ``emit``."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from podlog.batch import Batch
from podlog.config.errors import Located
from podlog.inputs._push import PushInput


class Collector:
    """Stands in for the pipeline: keeps every batch; acks at once, or holds acks until ``release``."""

    def __init__(self, hold: bool = False, block: threading.Event | None = None) -> None:
        self.batches: list[Batch] = []
        self.hold = hold
        self.block = block  # while set, emit blocks (a full buffer)
        self.lock = threading.Lock()

    def emit(self, batch: Batch) -> None:
        while self.block is not None and self.block.is_set():
            time.sleep(0.01)
        with self.lock:
            self.batches.append(batch)
        if not self.hold:
            batch.ack.release()

    def release(self) -> None:
        with self.lock:
            for batch in self.batches:
                if batch.ack.pending:
                    batch.ack.release()

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"tag": b.tag, **orjson.loads(d)} for b in self.batches for d in b.docs]

    def count(self) -> int:
        with self.lock:
            return sum(len(b) for b in self.batches)


def start(cls: type[PushInput], emit: Callable[[Batch], None], **options: Any) -> Any:
    """An input listening on 127.0.0.1 (a free port unless ``port`` is given), already running."""
    values = {"bind": "127.0.0.1", "port": 0, **options}
    plugin = cls(cls.Options.from_mapping(values, Located("test", 0, ""), ""))
    plugin.run(emit)
    return plugin


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def self_signed(directory: Path) -> tuple[str, str]:
    """(cert, key) PEM paths of a fresh self-signed certificate for 127.0.0.1, made by the openssl CLI."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)
