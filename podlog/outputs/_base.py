"""Output base: write a chunk, say what happened; the engine retries."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from podlog.batch import Batch
from podlog.plugin import Plugin

__all__ = ["Chunk", "Output", "Result", "Status", "timestamp_bytes"]

_TS_HEAD = b'{"@timestamp":"'


def timestamp_bytes(doc: bytes) -> bytes | None:
    """The ``@timestamp`` value of a tail-built doc without decoding it, or None if not on the fast path."""
    if not doc.startswith(_TS_HEAD):
        return None
    end = doc.find(b'"', 15)
    return doc[15:end] if end > 15 else None


class Status(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"          # transient: the engine backs off and calls write again
    REJECTED = "rejected"    # permanent: the records go to the dead-letter file
    PENDING = "pending"      # accepted, not yet durable: ``settle()`` blocks until it is and says how it went


@dataclass
class Result:
    status: Status
    reason: str = ""
    # Documents refused for good (per-item errors), with any status: the engine dead-letters them at
    # once, so with RETRY they must not be reported again by a later attempt.
    rejected: list[tuple[bytes, str]] = field(default_factory=list)
    # PENDING only: returns the final Result (DELIVERED, RETRY or REJECTED). Lets an output that makes data
    # durable in group commits (the store) take the next chunk while this one waits for its commit.
    settle: Callable[[], Result] | None = None

    @classmethod
    def ok(cls) -> Result:
        return cls(Status.DELIVERED)

    @classmethod
    def retry(cls, reason: str) -> Result:
        return cls(Status.RETRY, reason)

    @classmethod
    def reject(cls, reason: str) -> Result:
        return cls(Status.REJECTED, reason)

    @classmethod
    def pending(cls, settle: Callable[[], Result]) -> Result:
        return cls(Status.PENDING, settle=settle)


class Chunk:
    """Batches for one output and one tag, flushed together.

    An output that delivered part of a chunk may set ``pending`` to the docs it
    still has to send before returning RETRY; the next attempt sends only those.
    """

    __slots__ = ("attempts", "batches", "byte_size", "created", "pending", "tag")

    def __init__(self, tag: str, created: float) -> None:
        self.tag = tag
        self.batches: list[Batch] = []
        self.byte_size = 0
        self.created = created
        self.attempts = 0
        self.pending: list[bytes] | None = None

    def add(self, batch: Batch, size: int) -> None:
        self.batches.append(batch)
        self.byte_size += size

    def __len__(self) -> int:
        return sum(len(b) for b in self.batches)

    def docs(self) -> list[bytes]:
        """The documents still to deliver, in order."""
        if self.pending is not None:
            return self.pending
        if len(self.batches) == 1:
            return self.batches[0].docs
        out: list[bytes] = []
        for batch in self.batches:
            out.extend(batch.docs)
        return out


class Output(Plugin):
    """Outputs implement ``write``; buffering, retries and acks belong to the engine."""

    kind: ClassVar[str] = "output"

    def write(self, chunk: Chunk) -> Result:
        raise NotImplementedError

    # --- optional abilities: neutral defaults, so callers never probe for them -----------------

    def stats(self) -> dict[str, int]:
        """Per-item counts of this output's own for /status (e.g. Elasticsearch's item errors)."""
        return {}
