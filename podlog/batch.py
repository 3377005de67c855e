"""The one unit that moves through the pipeline: a Batch of records and its ack handle.

Records live in one of two forms and are converted only when a stage asks:
``docs`` (serialised JSON objects, the fast path: tail builds them by splicing
pre-serialised fragments with the payload bytes) or ``records`` (dicts, for
filters that need fields). An output that only writes NDJSON never decodes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import orjson

__all__ = ["RECORD_OVERHEAD", "Ack", "Batch"]

# What a held record costs beyond its bytes: the bytes object's header, its list slot and its offset.
# Measured on CPython 3.11 with 20-400 byte documents: 63-87 bytes (docs/delivery.md, "Memory").
RECORD_OVERHEAD = 80


class Ack:
    """Counts the destinations still holding a batch; calls ``on_done`` at zero.

    The creator holds one reference until routing is finished, so a batch that
    reaches no output is still acknowledged (and its offsets committed).
    ``failed`` records whether any holder gave the records up (dead-letter or
    drop); the checkpoint still advances, since those records were handled.
    """

    __slots__ = ("_lock", "_on_done", "_pending", "dropped")

    def __init__(self, on_done: Callable[[Ack], None] | None = None) -> None:
        self._pending = 1
        self._on_done = on_done
        self._lock = threading.Lock()
        self.dropped = 0

    def retain(self, n: int = 1) -> None:
        with self._lock:
            self._pending += n

    def release(self) -> None:
        with self._lock:
            self._pending -= 1
            done = self._pending == 0
        if done and self._on_done is not None:
            self._on_done(self)

    @property
    def pending(self) -> int:
        return self._pending


class Batch:
    """Records from one source read, with one tag and one ack.

    ``offsets`` (optional) holds each record's start offset in its source file,
    aligned with the records; with ``source`` it identifies a record uniquely
    (used for idempotent document ids).
    """

    __slots__ = ("_docs", "_records", "ack", "offsets", "source", "tag")

    def __init__(
        self,
        tag: str,
        docs: list[bytes] | None = None,
        records: list[dict[str, Any]] | None = None,
        ack: Ack | None = None,
        source: str | None = None,
        offsets: list[int] | None = None,
    ) -> None:
        if (docs is None) == (records is None):
            raise ValueError("a Batch needs exactly one of docs or records")
        self.tag = tag
        self._docs = docs
        self._records = records
        self.ack = ack if ack is not None else Ack()
        self.source = source
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self._docs) if self._docs is not None else len(self._records or ())

    @property
    def docs(self) -> list[bytes]:
        """Serialised documents; encodes records once if a filter changed them."""
        if self._docs is None:
            dumps = orjson.dumps
            opts = orjson.OPT_NON_STR_KEYS
            # An exact-size copy: orjson hands back small documents in 4 KiB allocations, and buffered by
            # the thousand they would cost 15-20x their size (docs/performance.md).
            self._docs = [bytes(memoryview(dumps(r, default=str, option=opts))) for r in self._records or ()]
        return self._docs

    @property
    def records(self) -> list[dict[str, Any]]:
        """Decoded records. Asking for them assumes they may change, so docs are dropped."""
        if self._records is None:
            loads = orjson.loads
            self._records = [loads(d) for d in self._docs or ()]
        self._docs = None
        return self._records

    def has_docs(self) -> bool:
        return self._docs is not None

    def replace(self, records: list[dict[str, Any]], offsets: list[int] | None = None) -> None:
        """Swap in new records (a filter that built new ones, or dropped some)."""
        self._records = records
        self._docs = None
        self.offsets = offsets

    def keep(self, mask: Sequence[bool]) -> int:
        """Keep the records whose mask is true, in either form; returns how many were dropped."""
        before = len(self)
        if self._docs is not None:
            self._docs = [d for d, k in zip(self._docs, mask, strict=True) if k]
        if self._records is not None:
            self._records = [r for r, k in zip(self._records, mask, strict=True) if k]
        if self.offsets is not None:
            self.offsets = [o for o, k in zip(self.offsets, mask, strict=True) if k]
        return before - len(self)

    def byte_size(self) -> int:
        """Payload size: what a chunk sends, and what a file buffer writes."""
        docs = self.docs
        return sum(map(len, docs)) + len(docs)

    def held_size(self) -> int:
        """Memory the batch keeps alive once only its documents are held, for memory buffer limits.

        The decoded form is let go here: a buffer holding dicts beside their documents took
        5x its ``total_limit_size`` (336 MB for 64 MiB), and outputs send documents anyway.
        """
        docs = self.docs
        self._records = None
        return sum(map(len, docs)) + len(docs) * RECORD_OVERHEAD
