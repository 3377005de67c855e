"""In-memory chunk buffer with a size limit that pauses inputs instead of dropping.

Chunks are keyed by tag (Fluentd's default chunk key), staged until they are
full or older than ``flush_interval``, then queued for the flush threads.
``put`` blocks while the buffer is over ``total_limit_size`` (or the agent-wide
``SharedLimit``): the input stops reading and the log file on disk becomes the
buffer. ``FileBuffer`` reuses this state machine and adds the disk.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from podlog.batch import Batch
from podlog.buffer.chunk import Chunk
from podlog.buffer.options import BufferOptions

__all__ = ["BufferClosed", "BufferOverflow", "MemoryBuffer", "SharedLimit"]


class BufferClosed(Exception):
    """put() after close() or refuse(): the agent is shutting down; the batch is not acknowledged."""


class BufferOverflow(Exception):
    """overflow_action throw_exception: the buffer is full and the caller chose loss over lag."""


class SharedLimit:
    """The agent-wide ``total_limit_size``: every output's buffered bytes count against it.

    Kept as a plain counter that buffers poll while blocked, so no buffer has
    to know about the others' locks.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0
        self._lock = threading.Lock()

    def fits(self, size: int) -> bool:
        return self.limit <= 0 or self.bytes == 0 or self.bytes + size <= self.limit

    def add(self, n: int) -> None:
        with self._lock:
            self.bytes += n


class MemoryBuffer:
    durable = False  # a put() is not yet safe: inputs are acknowledged only on delivery

    def __init__(self, options: BufferOptions, shared: SharedLimit | None = None) -> None:
        self.options = options
        self.shared = shared
        self._staged: dict[str, Chunk] = {}
        self._queue: deque[Chunk] = deque()
        self._cond = threading.Condition()
        self.bytes = 0
        self.in_flight = 0
        self.closed = False
        self.refusing = False
        self.blocked_since: float | None = None
        self.dropped_records = 0
        self.write_errors = 0  # disk writes that failed (a file buffer's; a memory buffer writes none)
        self.last_error = ""
        # Told (under the buffer lock, before acks are released) of each chunk drop_oldest_chunk gives up.
        self.on_drop: Callable[[Chunk, str], None] | None = None

    # --- producer side ------------------------------------------------------------

    def put(self, batch: Batch) -> None:
        size = self._size(batch)
        o = self.options
        with self._cond:
            self._wait_room(size)
            chunk = self._staged.get(batch.tag)
            if chunk is not None and chunk.byte_size and chunk.byte_size + size > o.chunk_limit_size:
                self._enqueue(batch.tag)  # keep chunks under chunk_limit_size: start a new one
                chunk = None
            if chunk is None:
                chunk = self._open_chunk(batch.tag)  # a file buffer may wait here for disk space
                self._enqueue(batch.tag)  # another put staged one meanwhile: queue it, keep order
                self._staged[batch.tag] = chunk
            chunk = self._append(chunk, batch, size)
            self._account(size)
            full = chunk.byte_size >= o.chunk_limit_size or (
                o.chunk_limit_records and len(chunk) >= o.chunk_limit_records
            )
            if full or o.flush_mode == "immediate":
                self._enqueue(batch.tag)

    def _size(self, batch: Batch) -> int:
        """What the batch costs against the limits: the memory it keeps alive, not only its payload."""
        return batch.held_size()

    def _over(self, size: int) -> bool:
        local = self.bytes + size > self.options.total_limit_size and self.bytes > 0
        return local or (self.shared is not None and not self.shared.fits(size))

    def _wait_room(self, size: int) -> None:
        """Block (backpressure) or apply overflow_action until ``size`` more bytes fit."""
        o = self.options
        while self._over(size) and not (self.closed or self.refusing):
            if o.overflow_action == "drop_oldest_chunk" and self._drop_oldest():
                continue
            if o.overflow_action == "throw_exception":
                raise BufferOverflow(f"buffer full ({self.bytes} bytes)")
            if self.blocked_since is None:
                self.blocked_since = time.monotonic()
            self._cond.wait(0.1)
        self.blocked_since = None
        if self.closed or self.refusing:
            raise BufferClosed

    def _open_chunk(self, tag: str) -> Chunk:
        return Chunk(tag, time.monotonic())

    def _append(self, chunk: Chunk, batch: Batch, size: int) -> Chunk:
        """Add the batch to the tag's staged chunk; returns the chunk that holds it."""
        chunk.add(batch, size)
        return chunk

    def _account(self, delta: int) -> None:
        self.bytes += delta
        if self.shared is not None:
            self.shared.add(delta)

    def _drop_oldest(self) -> bool:
        """overflow_action drop_oldest_chunk: give up the oldest queued chunk (counted, acked)."""
        if not self._queue:
            return False
        chunk = self._queue.popleft()
        self._account(-chunk.byte_size)
        self.dropped_records += len(chunk)
        self._discard(chunk)
        if self.on_drop is not None:
            self.on_drop(chunk, "buffer_overflow")
        for batch in chunk.batches:
            batch.ack.dropped += len(batch)
            batch.ack.release()
        return True

    def _discard(self, chunk: Chunk) -> None:
        """Forget a chunk that will not be delivered (the file buffer deletes its file)."""

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
        """The chunk is delivered or dead-lettered: free its room and wake blocked inputs."""
        with self._cond:
            self.in_flight -= 1
            self._account(-chunk.byte_size)
            self._cond.notify_all()

    def empty(self) -> bool:
        with self._cond:
            return not self._staged and not self._queue and self.in_flight == 0

    def refuse(self) -> None:
        """Shutdown has begun: new puts fail at once (unacknowledged, read again later) so inputs can stop."""
        with self._cond:
            self.refusing = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def chunks(self) -> int:
        return len(self._staged) + len(self._queue) + self.in_flight

    @property
    def limit(self) -> int:
        return self.options.total_limit_size
