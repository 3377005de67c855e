"""In-memory chunk buffer with a size limit that pauses inputs instead of dropping.

Chunks are keyed by tag (Fluentd's default chunk key), staged until they are
full or older than ``flush_interval``, then queued for the flush threads.
``put`` blocks while the buffer is over ``total_limit_size``: the input stops
reading and the log file on disk becomes the buffer.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from podlog.batch import Batch
from podlog.buffer.options import BufferOptions
from podlog.outputs._base import Chunk

__all__ = ["BufferClosed", "MemoryBuffer"]


class BufferClosed(Exception):
    """put() after close(): the agent is shutting down."""


class MemoryBuffer:
    def __init__(self, options: BufferOptions) -> None:
        self.options = options
        self._staged: dict[str, Chunk] = {}
        self._queue: deque[Chunk] = deque()
        self._cond = threading.Condition()
        self.bytes = 0
        self.in_flight = 0
        self.closed = False
        self.blocked_since: float | None = None
        self.dropped_records = 0

    # --- producer side ------------------------------------------------------------

    def put(self, batch: Batch) -> None:
        size = batch.byte_size()
        o = self.options
        with self._cond:
            while self.bytes + size > o.total_limit_size and self.bytes > 0 and not self.closed:
                if o.overflow_action == "drop_oldest_chunk" and self._drop_oldest():
                    continue
                if o.overflow_action == "throw_exception":
                    raise BufferError("buffer full")
                if self.blocked_since is None:
                    self.blocked_since = time.monotonic()
                self._cond.wait(0.5)
            self.blocked_since = None
            if self.closed:
                raise BufferClosed
            chunk = self._staged.get(batch.tag)
            if chunk is None:
                chunk = self._staged[batch.tag] = Chunk(batch.tag, time.monotonic())
            chunk.add(batch, size)
            self.bytes += size
            full = chunk.byte_size >= o.chunk_limit_size or (
                o.chunk_limit_records and len(chunk) >= o.chunk_limit_records
            )
            if full or o.flush_mode == "immediate":
                self._enqueue(batch.tag)

    def _drop_oldest(self) -> bool:
        """overflow_action drop_oldest_chunk: give up the oldest queued chunk (counted, acked)."""
        if not self._queue:
            return False
        chunk = self._queue.popleft()
        self.bytes -= chunk.byte_size
        self.dropped_records += len(chunk)
        for batch in chunk.batches:
            batch.ack.dropped += len(batch)
            batch.ack.release()
        return True

    def _enqueue(self, tag: str) -> None:
        chunk = self._staged.pop(tag, None)
        if chunk is not None:
            self._queue.append(chunk)
            self._cond.notify_all()

    # --- flush side ------------------------------------------------------------------

    def take(self, timeout: float, flush_all: bool = False) -> Chunk | None:
        """The next chunk to flush: queued ones first, then staged ones past flush_interval."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                for tag, chunk in list(self._staged.items()):
                    if flush_all or now - chunk.created >= self.options.flush_interval:
                        self._enqueue(tag)
                if self._queue:
                    self.in_flight += 1
                    return self._queue.popleft()
                if now >= deadline:
                    return None
                oldest = min((c.created for c in self._staged.values()), default=None)
                wait = deadline - now
                if oldest is not None and not flush_all:
                    wait = min(wait, max(0.0, oldest + self.options.flush_interval - now))
                self._cond.wait(wait)

    def requeue(self, chunk: Chunk) -> None:
        """A chunk to try again later (kept at the front: order within a tag is preserved)."""
        with self._cond:
            self.in_flight -= 1
            self._queue.appendleft(chunk)
            self._cond.notify_all()

    def done(self, chunk: Chunk) -> None:
        with self._cond:
            self.in_flight -= 1
            self.bytes -= chunk.byte_size
            self._cond.notify_all()

    def empty(self) -> bool:
        with self._cond:
            return not self._staged and not self._queue and self.in_flight == 0

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def chunks(self) -> int:
        return len(self._staged) + len(self._queue) + self.in_flight
