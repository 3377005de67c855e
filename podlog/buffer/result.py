"""What an output's ``write`` says happened to a chunk; the runner acts on it (acks, retries, dead letters)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Result", "Status"]


class Status(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"          # transient: the runner backs off and calls write again
    REJECTED = "rejected"    # permanent: the records go to the dead-letter file
    PENDING = "pending"      # accepted, not yet durable: ``settle()`` blocks until it is and says how it went


@dataclass
class Result:
    status: Status
    reason: str = ""
    # Documents refused for good (per-item errors), with any status: the runner dead-letters them at
    # once, so with RETRY they must not be reported again by a later attempt.
    rejected: list[tuple[bytes, str]] = field(default_factory=list)
    # PENDING only: returns the final Result (DELIVERED, RETRY or REJECTED). Lets an output that makes data
    # durable in group commits (the store) take the next chunk while this one waits for its commit.
    settle: Callable[[], Result] | None = None
    # RETRY only: positions in the chunk's ``docs()`` of the documents still to send (the others were
    # delivered or are in ``rejected``); None means all of them. The runner narrows the chunk to these,
    # so the next attempt is given only them.
    remaining: list[int] | None = None

    @classmethod
    def ok(cls) -> Result:
        return cls(Status.DELIVERED)

    @classmethod
    def retry(cls, reason: str) -> Result:
        return cls(Status.RETRY, reason)

    @classmethod
    def partial(cls, reason: str, remaining: list[int], rejected: list[tuple[bytes, str]] | None = None) -> Result:
        """Part delivered: retry only ``remaining`` (positions in ``chunk.docs()``)."""
        return cls(Status.RETRY, reason, rejected=rejected or [], remaining=remaining)

    @classmethod
    def reject(cls, reason: str) -> Result:
        return cls(Status.REJECTED, reason)

    @classmethod
    def pending(cls, settle: Callable[[], Result]) -> Result:
        return cls(Status.PENDING, settle=settle)
