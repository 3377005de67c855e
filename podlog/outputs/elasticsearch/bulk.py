"""Bulk request bodies and the per-item reading of bulk responses.

A bulk response is 200 even when items failed; each item then carries its own
status. Items are sorted into three outcomes so one bad document neither
blocks its chunk (it is dead-lettered with the server's reason) nor gets
retried forever, and a throttled one is retried without re-sending its
neighbours that were already indexed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["FILTER_PATH", "Item", "Outcome", "action_line", "classify", "plan", "with_tag"]

# Ask the server for only what classify() reads: responses for 5,000 items shrink ~10x.
FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.reason"

# Error types that say "not now" rather than "never", whatever their HTTP status.
_TRANSIENT_TYPES = frozenset({
    "es_rejected_execution_exception",
    "rejected_execution_exception",
    "circuit_breaking_exception",
    "cluster_block_exception",  # disk watermark: the index turns read-only until space is freed
    "unavailable_shards_exception",
    "process_cluster_event_timeout_exception",
    "no_shard_available_action_exception",
    "node_not_connected_exception",
    "timeout_exception",
})


@dataclass(slots=True)
class Item:
    """One document and its bulk lines; ``doc`` is the original, kept for dead-letter."""

    doc: bytes
    lines: bytes
    create: bool = False  # a create with an _id: 409 then means "already indexed"
    pos: int = 0  # its position in the chunk's documents of this attempt: how a retry names it

    def __len__(self) -> int:
        return len(self.lines)


def action_line(op: str, index: str, doc_id: str | None) -> bytes:
    meta: dict[str, str] = {"_index": index}
    if doc_id is not None:
        meta["_id"] = doc_id
    return orjson.dumps({op: meta})


def with_tag(doc: bytes, key: str, tag: str) -> bytes:
    """Add ``key: tag`` to a serialised object without decoding it (Fluentd's include_tag_key)."""
    field_bytes = orjson.dumps(key) + b":" + orjson.dumps(tag)
    body = doc.rstrip()
    if not body.endswith(b"}"):
        return doc
    inner = body[:-1].rstrip()
    sep = b"" if inner.endswith(b"{") else b","
    return inner + sep + field_bytes + b"}"


def plan(items: list[Item], max_bytes: int, max_docs: int) -> Iterator[list[Item]]:
    """Split into requests within both limits; a document larger than ``max_bytes`` goes alone."""
    current: list[Item] = []
    size = 0
    for item in items:
        if current and (size + len(item) > max_bytes or len(current) >= max_docs):
            yield current
            current, size = [], 0
        current.append(item)
        size += len(item)
    if current:
        yield current


@dataclass
class Outcome:
    """What happened to the items of one or more bulk requests."""

    delivered: int = 0
    retry: list[Item] = field(default_factory=list)
    rejected: list[tuple[bytes, str]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    retry_reason: str = ""

    def merge(self, other: Outcome) -> None:
        self.delivered += other.delivered
        self.retry.extend(other.retry)
        self.rejected.extend(other.rejected)
        self.counts.update(other.counts)
        self.retry_reason = self.retry_reason or other.retry_reason

    def retry_all(self, items: list[Item], reason: str, count_as: str) -> None:
        self.retry.extend(items)
        self.counts[count_as] += len(items)
        self.retry_reason = self.retry_reason or reason


def _reason(status: int, error: Any) -> str:
    if not isinstance(error, dict):
        return f"{status} {error}"[:500]
    text = f"{status} {error.get('type', 'error')}: {error.get('reason', '')}"
    caused = error.get("caused_by")
    if isinstance(caused, dict) and caused.get("reason"):
        text += f" (caused by: {caused['reason']})"
    return text[:500]


def _transient(status: int, error: Any) -> bool:
    if status == 429 or status >= 500:
        return True
    return isinstance(error, dict) and error.get("type") in _TRANSIENT_TYPES


def classify(items: list[Item], response: dict[str, Any]) -> Outcome:
    """Sort the items of one bulk request by their response entries (matched by position).

    409 on ``create`` means the id is already indexed: a retry of a request
    whose answer was lost, so it counts as delivered. Items the response does
    not mention are retried (safe: only ids make a retry idempotent, and
    without ids the server answered for everything it indexed).
    """
    out = Outcome()
    if not response.get("errors"):
        out.delivered = len(items)
        out.counts["indexed"] += len(items)
        return out
    answers = response.get("items") or []
    for i, item in enumerate(items):
        if i >= len(answers):
            out.retry_all([item], "bulk response is missing items", "retry_missing")
            continue
        entry = answers[i]
        result: dict[str, Any] = next(iter(entry.values()), {}) if isinstance(entry, dict) and entry else {}
        status = int(result.get("status", 0) or 0)
        error = result.get("error")
        if 200 <= status < 300 and not error:
            out.delivered += 1
            out.counts["indexed"] += 1
        elif status == 409 and item.create:
            out.delivered += 1
            out.counts["duplicate"] += 1
        elif _transient(status, error):
            kind = error.get("type") if isinstance(error, dict) else None
            out.retry_all([item], _reason(status, error), f"retry_{kind or status}")
        else:
            kind = error.get("type") if isinstance(error, dict) else status
            out.rejected.append((item.doc, _reason(status, error)))
            out.counts[f"rejected_{kind}"] += 1
    return out
