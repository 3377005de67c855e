"""The loss ledger: for every source, read = delivered + dropped (by reason) + buffered.

podlog's promise is that every line read is delivered or dropped on purpose
with a reason; the ledger is how that is checked from outside. The engine
wraps each batch's ack in a ``SourceAck`` naming its source, so every stage
that settles records (filters, the router, output runners) can credit the
right source without the record carrying anything.

With fan-out (``copy``) each destination gets a ``share`` of 1/n per record,
so a record delivered by both of two outputs counts as one delivered record,
and one delivered by one and dead-lettered by the other counts half each.
``buffered`` is derived (read minus settled): records in filters, in buffers,
in flight, or (at shutdown) refused and left to be read again.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

from podlog.batch import Ack, Batch

__all__ = ["Ledger", "SourceAck", "note_drop", "shares"]

REPLAYED = "(replayed)"  # records a file buffer replays at start: read by the previous run


class SourceAck(Ack):
    """An ack that knows its source; settles the input's own ack when every destination is done."""

    __slots__ = ("inner", "ledger", "share", "source")

    def __init__(self, inner: Ack, source: str, ledger: Ledger) -> None:
        super().__init__(self._settle)
        self.inner = inner
        self.source = source
        self.ledger = ledger
        self.share = 1.0

    def _settle(self, _ack: Ack) -> None:
        self.inner.dropped += self.dropped
        self.inner.release()


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Fractional counts (a copy's share of a record is 1/n): float-valued, so not Counters.
        self.read: defaultdict[str, float] = defaultdict(float)
        self.delivered: defaultdict[str, float] = defaultdict(float)
        self.dropped: defaultdict[tuple[str, str], float] = defaultdict(float)

    def add_read(self, source: str, n: float) -> None:
        with self._lock:
            self.read[source] += n

    def add_delivered(self, by_source: Mapping[str, float], fraction: float = 1.0) -> None:
        with self._lock:
            for source, n in by_source.items():
                self.delivered[source] += n * fraction

    def add_dropped(self, by_source: Mapping[str, float], reason: str, fraction: float = 1.0) -> None:
        with self._lock:
            for source, n in by_source.items():
                self.dropped[(source, reason)] += n * fraction

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per source: read, delivered, dropped by reason, buffered (rounded to whole records)."""
        with self._lock:
            sources = set(self.read) | set(self.delivered) | {s for s, _ in self.dropped}
            out: dict[str, dict[str, object]] = {}
            for source in sorted(sources):
                dropped = {r: round(n) for (s, r), n in self.dropped.items() if s == source}
                read, delivered = self.read[source], self.delivered[source]
                settled = delivered + sum(n for (s, _), n in self.dropped.items() if s == source)
                out[source] = {"read": round(read), "delivered": round(delivered), "dropped": dropped,
                               "buffered": round(read - settled)}
            return out


def shares(batches: Iterable[Batch]) -> defaultdict[str, float]:
    """Records of these batches by source, weighted by their fan-out share."""
    out: defaultdict[str, float] = defaultdict(float)
    for batch in batches:
        ack = batch.ack
        if isinstance(ack, SourceAck):
            out[ack.source] += len(batch) * ack.share
    return out


def note_drop(batch: Batch, n: int, reason: str) -> None:
    """Credit ``n`` records of ``batch`` as dropped before routing (filters, no matching output)."""
    ack = batch.ack
    if isinstance(ack, SourceAck) and n > 0:
        ack.ledger.add_dropped({ack.source: float(n)}, reason)
