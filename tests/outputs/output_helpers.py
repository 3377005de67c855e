"""Helpers for output tests: build an output from a config mapping, wrap docs in a chunk."""

from __future__ import annotations

from typing import Any

import orjson

from podlog.batch import Batch
from podlog.config.errors import Located
from podlog.outputs._base import Chunk, Output, Result


def build(cls: type[Output], **options: Any) -> Any:
    """An output of ``cls`` with ``options`` as a config would give them (validated the same way)."""
    opts = cls.Options.from_mapping(options, Located("test.yaml", 1, "outputs[0]"), "outputs[0].")
    return cls(opts)


def doc(ts: str = "2024-05-06T07:08:09.123456789Z", **fields: Any) -> bytes:
    """A document shaped like tail's: ``@timestamp`` first."""
    return orjson.dumps({"@timestamp": ts, **fields})


def attempt(out: Output, chunk: Chunk) -> Result:
    """One delivery attempt as the runner makes it: write, then narrow the chunk to what is left to retry."""
    result = out.write(chunk)
    if result.remaining is not None:
        chunk.narrow(result.remaining)
    return result


def chunk_of(*batches: Batch, tag: str = "kube.app") -> Chunk:
    chunk = Chunk(tag, 0.0)
    for b in batches:
        chunk.add(b, b.byte_size())
    return chunk


def file_batch(docs: list[bytes], source: str = "2049:1234", start: int = 0, tag: str = "kube.app") -> Batch:
    """A batch as tail makes it: the file's identity (its origin) and each line's start offset."""
    offsets = []
    pos = start
    for d in docs:
        offsets.append(pos)
        pos += len(d) + 1
    return Batch(tag, docs=list(docs), origin=source, offsets=offsets)
