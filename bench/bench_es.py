"""Throughput of the Elasticsearch output into the protocol double, gzip on and off.

In process: pre-built chunks of ~200-byte tail-shaped documents (with file
source and offsets, so idempotent ids and ``create`` are on, as in
production) are handed to ``ElasticsearchOutput.write``; documents/s is
wall-clock over all writes. The double is a Python HTTP server and costs
far more CPU than the output, so the figures are a floor for the output, not
a prediction of a real cluster's ingest rate. The client-side cost (CPU
seconds of this process' output work) is reported separately.

Run: ``python bench/bench_es.py [documents] [chunk_size]``.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podlog.batch import Batch
from podlog.config.errors import Located
from podlog.outputs._base import Chunk, Status
from podlog.outputs._http import compress
from podlog.outputs.elasticsearch import ElasticsearchOutput
from tests.drivers.es_double import EsDouble

_WORDS = ("request", "served", "user", "cache", "miss", "upstream", "timeout", "ok", "GET", "POST", "db", "retry")


def make_docs(n: int, seed: int = 3) -> list[bytes]:
    """~200-byte documents shaped like tail's CRI output, @timestamp first."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        msg = " ".join(rnd.choice(_WORDS) for _ in range(8))
        out.append(orjson.dumps({
            "@timestamp": f"2024-05-06T07:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 10**9:09d}Z",
            "stream": "stdout", "message": msg, "level": rnd.choice(("info", "warn", "error")),
            "kubernetes": {"namespace_name": "prod", "pod_name": f"api-{i % 7}", "container_name": "api"},
        }))
    return out


def make_chunks(docs: list[bytes], size: int) -> list[Chunk]:
    chunks = []
    offset = 0
    for start in range(0, len(docs), size):
        part = docs[start:start + size]
        offsets = []
        for d in part:
            offsets.append(offset)
            offset += len(d) + 1
        chunk = Chunk("kube.prod", 0.0)
        batch = Batch("kube.prod", docs=part, origin="2049:777", offsets=offsets)
        chunk.add(batch, batch.byte_size())
        chunks.append(chunk)
    return chunks


def run(docs: list[bytes], chunk_size: int, gzip_on: bool) -> tuple[float, float, int]:
    with EsDouble("es8") as es:
        opts = ElasticsearchOutput.Options.from_mapping(
            {"hosts": es.url, "logstash_format": True, "gzip": gzip_on}, Located("bench", 0, ""), "")
        out = ElasticsearchOutput(opts)
        out.start()
        chunks = make_chunks(docs, chunk_size)
        wall = time.perf_counter()
        for chunk in chunks:
            while (result := out.write(chunk)).status is not Status.DELIVERED:
                if result.remaining is not None:  # what the runner does: retry only the rest
                    chunk.narrow(result.remaining)
        wall = time.perf_counter() - wall
        sent = sum(len(r.raw_body) for r in es.bulk_requests)
        assert len(es.documents("logstash-*")) == len(docs)
        out.stop()
    return len(docs) / wall, wall, sent


def client_only(docs: list[bytes], chunk_size: int, gzip_on: bool) -> float:
    """Documents/s of the output's own work (ids, index names, bulk body, gzip), without the network."""
    opts = ElasticsearchOutput.Options.from_mapping(
        {"hosts": "http://127.0.0.1:9", "logstash_format": True, "gzip": gzip_on}, Located("bench", 0, ""), "")
    out = ElasticsearchOutput(opts)
    chunks = make_chunks(docs, chunk_size)
    cpu = time.process_time()
    for chunk in chunks:
        body = b"".join(item.lines for item in out._resume(chunk).items)
        if gzip_on:
            compress(body, out.gzip_level)
    return len(docs) / (time.process_time() - cpu)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    chunk_size = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
    docs = make_docs(n)
    avg = sum(map(len, docs)) / len(docs)
    print(f"{n} documents of {avg:.0f} bytes, chunks of {chunk_size}, into EsDouble es8 (logstash_format, ids)")
    for gzip_on in (False, True):
        rate, wall, sent = run(docs, chunk_size, gzip_on)
        label = "on " if gzip_on else "off"
        own = client_only(docs, chunk_size, gzip_on)
        print(f"gzip {label}: {rate:10,.0f} docs/s into the double ({wall:.2f}s, {sent / 1e6:.1f} MB on the wire); "
              f"output work alone {own:,.0f} docs/s of CPU")


if __name__ == "__main__":
    main()
