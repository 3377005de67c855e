"""Acknowledgements: how a batch's records tell their input, and the loss ledger, that they are settled.

An ``Ack`` counts the destinations still holding a batch and calls its
input's ``on_done`` at zero (the tail then commits the offsets, see
``inputs/tail/checkpoint.Cursor``). It also carries where the records came
from for accounting: ``source`` (the input plugin's name) and ``share`` (the
fraction of a record each destination settles when ``copy`` fans it out).
Whoever settles records (a filter's drop, the router, an output runner) calls
``settle``; the ack passes it on to its ``listener`` (the loss ledger), so no
stage needs to know the ledger exists.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

__all__ = ["REPLAYED", "Ack", "SettleListener", "Tally"]

# The source a file buffer credits the records it replays at start with: they were read by the previous run.
REPLAYED = "(replayed)"


class SettleListener(Protocol):
    """Told when records settle: the loss ledger (``telemetry.ledger.Ledger``)."""

    def settled(self, by_source: Mapping[str, float], reason: str | None) -> None:
        """Records by source were delivered (``reason`` None) or dropped on purpose for ``reason``."""


class Ack:
    """Counts the destinations still holding a batch; calls ``on_done`` at zero.

    The creator holds one reference until routing is finished, so a batch that
    reaches no output is still acknowledged (and its offsets committed).
    ``dropped`` counts records a holder gave up (dead-letter or drop); the
    checkpoint still advances, since those records were handled.
    """

    __slots__ = ("_lock", "_on_done", "_pending", "dropped", "listener", "share", "source")

    def __init__(self, on_done: Callable[[Ack], None] | None = None, source: str = "",
                 listener: SettleListener | None = None) -> None:
        self._pending = 1
        self._on_done = on_done
        self._lock = threading.Lock()
        self.dropped = 0
        self.source = source  # the input plugin's name, as the ledger and metrics know it
        self.share = 1.0  # of each record, for the destination it is routed to (1/n with n copies)
        self.listener = listener

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

    def attach(self, source: str, listener: SettleListener) -> None:
        """Name the records' source and who hears of their settlement (the engine does, as records enter)."""
        self.source = source
        self.listener = listener

    def settle(self, n: float, reason: str | None = None) -> None:
        """``n`` records of this ack's batch were delivered (``reason`` None) or dropped for ``reason``."""
        if self.listener is not None and n > 0:
            self.listener.settled({self.source: n * self.share}, reason)

    def child(self) -> Ack:
        """A new ack holding this one until it settles, with the same source and listener.

        For records routed anew (rewrite_tag_filter): the input commits only after
        the new routes acknowledged, and what they gave up counts as given up here.
        """
        self.retain()

        def done(child: Ack) -> None:
            self.dropped += child.dropped
            self.release()

        return Ack(done, self.source, self.listener)


class Tally:
    """Records by source (weighted by share), grouped by listener: what a chunk settles in one call.

    A memory chunk builds one from its batches' acks when it settles; a file chunk,
    whose acks were released once its records were on disk, keeps one as it is filled.
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[SettleListener, defaultdict[str, float]] = {}

    @classmethod
    def of(cls, acks: Iterable[tuple[Ack, int]]) -> Tally:
        """The tally of ``(ack, records)`` pairs."""
        tally = cls()
        for ack, n in acks:
            tally.add(ack, n)
        return tally

    def add(self, ack: Ack, n: int) -> None:
        if ack.listener is not None:
            self.credit(ack.listener, ack.source, n * ack.share)

    def credit(self, listener: SettleListener, source: str, n: float) -> None:
        counts = self.counts.get(listener)
        if counts is None:
            counts = self.counts[listener] = defaultdict(float)
        counts[source] += n

    def settle(self, fraction: float = 1.0, reason: str | None = None) -> None:
        """``fraction`` of the tallied records were delivered (``reason`` None) or dropped for ``reason``."""
        if fraction <= 0:
            return
        for listener, counts in self.counts.items():
            listener.settled({source: n * fraction for source, n in counts.items()}, reason)
