"""Build small stores with known contents for the store and API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from podlog.store.schema import Layout
from podlog.store.writer import StoreWriter

BASE_MS = 1_796_094_000_000  # 2026-12-01T03:00:00Z


def iso(ms: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}000000Z"


def record(ms: int, message: str, pod: str = "web-1", namespace: str = "shop", **fields: Any) -> dict[str, Any]:
    return {"@timestamp": iso(ms), "stream": "stdout", "message": message,
            "kubernetes": {"pod_name": pod, "namespace_name": namespace, "container_name": "app",
                           "labels": {"app": pod.split("-")[0]}}, **fields}


def write(writer: StoreWriter, records: list[dict[str, Any]], source: str | None = None,
          offsets: list[int] | None = None, tag: str = "kube.test") -> None:
    docs = [orjson.dumps(r) for r in records]
    writer.add(writer.documents(tag, docs, source, offsets))
    writer.commit()


def make_store(path: Path, layout: Layout | None = None, **kw: Any) -> StoreWriter:
    return StoreWriter(str(path), layout, **kw)
