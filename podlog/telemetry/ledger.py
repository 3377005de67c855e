"""The loss ledger: for every source, read = delivered + dropped (by reason) + buffered.

podlog's promise is that every line read is delivered or dropped on purpose
with a reason; the ledger is how that is checked from outside. The engine
counts what each input reads and attaches the ledger to each batch's ack
(``buffer/ack.py``) with the input's name as its source; every stage that
settles records (filters, the router, output runners) settles them on the ack,
and the ack tells the ledger. No stage reaches into the ledger itself.

With fan-out (``copy``) each destination gets a ``share`` of 1/n per record,
so a record delivered by both of two outputs counts as one delivered record,
and one delivered by one and dead-lettered by the other counts half each.
``buffered`` is derived (read minus settled): records in filters, in buffers,
in flight, or (at shutdown) refused and left to be read again.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping

__all__ = ["Ledger"]


class Ledger:
    """Counts by source; a ``SettleListener`` of the acks the engine attaches it to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.read: defaultdict[str, float] = defaultdict(float)  # fractions: a copy settles 1/n of a record
        self.delivered: defaultdict[str, float] = defaultdict(float)
        self.dropped: defaultdict[tuple[str, str], float] = defaultdict(float)

    def add_read(self, source: str, n: float) -> None:
        with self._lock:
            self.read[source] += n

    def settled(self, by_source: Mapping[str, float], reason: str | None) -> None:
        """Records by source were delivered (``reason`` None) or dropped for ``reason``."""
        with self._lock:
            if reason is None:
                for source, n in by_source.items():
                    self.delivered[source] += n
            else:
                for source, n in by_source.items():
                    self.dropped[(source, reason)] += n

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
