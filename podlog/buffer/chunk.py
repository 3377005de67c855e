"""The unit a buffer hands an output: batches of one tag, flushed together.

A chunk also remembers which of its documents are still to deliver. An output
that delivered part of it says so in its ``Result`` (``remaining``: positions
in the documents it was given); the runner narrows the chunk to those, and
the next attempt sees only them through ``docs()`` and ``parts()``. So the
retry state lives with the chunk and dies with it: no output keeps any.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from podlog.batch import Batch
from podlog.buffer.ack import Tally

__all__ = ["Chunk"]


class Chunk:
    """Batches for one output and one tag, flushed together."""

    __slots__ = ("_left", "attempts", "batches", "byte_size", "created", "tag")

    def __init__(self, tag: str, created: float) -> None:
        self.tag = tag
        self.batches: list[Batch] = []
        self.byte_size = 0
        self.created = created
        self.attempts = 0
        self._left: list[int] | None = None  # positions (in all the chunk's docs) still to deliver; None: all

    def add(self, batch: Batch, size: int) -> None:
        self.batches.append(batch)
        self.byte_size += size

    def __len__(self) -> int:
        return sum(len(b) for b in self.batches)

    def docs(self) -> list[bytes]:
        """The documents still to deliver, in order."""
        if len(self.batches) == 1:
            docs = self.batches[0].docs
        else:
            docs = []
            for batch in self.batches:
                docs.extend(batch.docs)
        left = self._left
        return docs if left is None else [docs[i] for i in left]

    def parts(self) -> Iterator[tuple[Batch, Sequence[int]]]:
        """Each batch with the positions (in it) of its documents still to deliver, in ``docs()`` order.

        For outputs that need more than the bytes (a tag, an origin and offsets for ids).
        """
        left = self._left
        start = 0
        for batch in self.batches:
            end = start + len(batch)
            if left is None:
                yield batch, range(end - start)
            else:
                lo, hi = bisect_left(left, start), bisect_left(left, end)
                if hi > lo:
                    yield batch, [i - start for i in left[lo:hi]]
            start = end

    @property
    def partial(self) -> bool:
        """Whether an earlier attempt delivered part of it (or gave part up)."""
        return self._left is not None

    def narrow(self, remaining: Sequence[int]) -> None:
        """Keep only ``remaining``: positions in the last ``docs()``. The runner calls it on a partial retry."""
        left = self._left
        positions = sorted(set(remaining)) if left is None else sorted({left[i] for i in remaining})
        self._left = positions

    def tally(self) -> Tally:
        """Its records by source, for the ledger when they settle."""
        return Tally.of((b.ack, len(b)) for b in self.batches)
