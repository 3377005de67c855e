"""The memory buffer's limit bounds the memory it really holds, not only the payload bytes."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from podlog.batch import Batch
from podlog.buffer.memory import BufferOverflow, MemoryBuffer
from podlog.buffer.options import BufferOptions
from podlog.config.errors import Located

LIMIT = 4 * 1024 * 1024


def opts(**kw: Any) -> BufferOptions:
    return BufferOptions.from_mapping(kw, Located("test", 0, "buffer"), "buffer.")  # type: ignore[return-value]


def _fill(buf: MemoryBuffer, make: Any) -> int:
    """Put batches until the buffer refuses one; returns the records it took."""
    taken = 0
    with pytest.raises(BufferOverflow):
        for n in range(1_000_000):
            batch = make(n)
            buf.put(batch)
            taken += len(batch)
    return taken


def _short_docs(n: int) -> Batch:
    # ~40-byte documents: the per-record overhead outweighs the payload (the 3x case of issue 12).
    docs = [b'{"message":"GET /x/%d 200"}' % (n * 500 + i) for i in range(500)]
    return Batch("t", docs=docs, offsets=list(range(10**9 + n * 500, 10**9 + n * 500 + 500)))


def _decoded_records(n: int) -> Batch:
    # Records a filter decoded: before, the buffer kept the dicts beside their documents (5x).
    records = [{"message": f"request {n * 500 + i} handled", "user": f"u{i}", "status": 200} for i in range(500)]
    return Batch("t", records=records, offsets=list(range(n * 500, n * 500 + 500)))


@pytest.mark.parametrize("make", [_short_docs, _decoded_records], ids=["short-docs", "decoded-records"])
def test_held_memory_stays_near_total_limit_size(make: Any) -> None:
    buf = MemoryBuffer(opts(total_limit_size=LIMIT, chunk_limit_size=LIMIT // 8, overflow_action="throw_exception"))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        taken = _fill(buf, make)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert taken > 10_000  # the buffer was really filled
    # The last (refused) batch is still alive here: allow it and the chunk bookkeeping.
    assert held <= LIMIT * 1.15, f"{held / LIMIT:.2f}x total_limit_size held"
    assert buf.bytes <= LIMIT


def test_buffered_batch_keeps_documents_only() -> None:
    buf = MemoryBuffer(opts())
    batch = _decoded_records(0)
    buf.put(batch)
    assert batch.has_docs()
    assert batch._records is None  # the decoded form is let go once buffered
    assert len(batch.docs) == 500
