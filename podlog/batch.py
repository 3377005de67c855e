"""The one unit that moves through the pipeline: a Batch of records and its ack (``buffer/ack.py``).

Records live in one of two forms and are converted only when a stage asks:
``docs`` (serialised JSON objects, the fast path: tail builds them by splicing
pre-serialised fragments with the payload bytes) or ``records`` (dicts, for
filters that need fields). An output that only writes NDJSON never decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from podlog.buffer.ack import Ack

__all__ = ["RECORD_OVERHEAD", "Ack", "Batch"]  # Ack lives in buffer/ack.py; inputs create one per batch

# What a held record costs beyond its bytes: the bytes object's header, its list slot and its offset.
# Measured on CPython 3.11 with 20-400 byte documents: 63-87 bytes (docs/delivery.md, "Memory").
RECORD_OVERHEAD = 80


class Batch:
    """Records from one source read, with one tag and one ack.

    ``origin`` (optional) names what the records were read from, e.g. a file's
    identity ``dev:inode:crc``; ``offsets`` (optional) holds each record's start
    offset in it, aligned with the records. Together they identify a record
    uniquely (used for idempotent document ids). Not to be confused with the
    ack's ``source``, the input plugin's name that the loss ledger counts by.
    """

    __slots__ = ("_docs", "_records", "ack", "offsets", "origin", "tag")

    def __init__(
        self,
        tag: str,
        docs: list[bytes] | None = None,
        records: list[dict[str, Any]] | None = None,
        ack: Ack | None = None,
        origin: str | None = None,
        offsets: list[int] | None = None,
    ) -> None:
        if (docs is None) == (records is None):
            raise ValueError("a Batch needs exactly one of docs or records")
        self.tag = tag
        self._docs = docs
        self._records = records
        self.ack = ack if ack is not None else Ack()
        self.origin = origin
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
