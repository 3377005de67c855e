"""Runs one output: its buffer, its flush threads, retries, dead letters, and the acks of chunks.

Acknowledgement rule (the at-least-once guarantee, see docs/delivery.md): with
a memory buffer an input's ack is released when the output delivered the
records (or they were dead-lettered / dropped on purpose); with a file buffer
it is released as soon as the records are durably in the chunk file, and the
output's delivery then deletes the file.

Retry state is the runner's: an output that delivered part of a chunk returns
``Result.partial`` naming the rest by position, the runner narrows the chunk
to them (``Chunk.narrow``) and the next attempt is given only those. Records
settle on their acks (``Chunk.tally``), which tell the loss ledger.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from podlog.batch import Batch
from podlog.buffer.ack import REPLAYED
from podlog.buffer.chunk import Chunk
from podlog.buffer.deadletter import DeadLetter
from podlog.buffer.file import FileBuffer
from podlog.buffer.memory import BufferClosed, BufferOverflow, MemoryBuffer, SharedLimit
from podlog.buffer.options import BufferOptions
from podlog.buffer.result import Result, Status
from podlog.buffer.retry import RetryPolicy
from podlog.telemetry.ledger import Ledger
from podlog.telemetry.metrics import AgentMetrics

if TYPE_CHECKING:  # the runner drives an output; outputs are built on buffer/, not the other way round
    from podlog.outputs._base import Output

__all__ = ["OutputRunner", "make_buffer"]

log = logging.getLogger("podlog.output")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def make_buffer(name: str, options: BufferOptions, data_dir: str, shared: SharedLimit | None) -> MemoryBuffer:
    """The buffer ``buffer.type`` asks for; a file buffer defaults to ``<data_dir>/buffer/<output>``."""
    if options.type != "file":
        return MemoryBuffer(options, shared)
    path = options.path or (os.path.join(data_dir, "buffer", _safe(name)) if data_dir else "")
    if "*" in os.path.basename(path):  # Fluentd's /var/log/fluent/buf/es.*.buffer: its directory is ours
        path = os.path.dirname(path)
    if not path:
        raise ValueError(f"output {name}: a file buffer needs buffer.path or agent.data_dir")
    return FileBuffer(options, path, shared, replay=False)


def _split(batch: Batch, limit: int) -> list[Batch]:
    """Parts of at most ``limit`` bytes (a single larger record stays whole), sharing the batch's ack."""
    docs = batch.docs
    if limit <= 0 or sum(map(len, docs)) + len(docs) <= limit:
        return [batch]
    parts: list[Batch] = []
    start = size = 0
    for i, doc in enumerate(docs):
        if size and size + len(doc) + 1 > limit:
            parts.append(_part(batch, start, i))
            start, size = i, 0
        size += len(doc) + 1
    parts.append(_part(batch, start, len(docs)))
    return parts


def _part(batch: Batch, start: int, end: int) -> Batch:
    offsets = batch.offsets[start:end] if batch.offsets is not None else None
    return Batch(batch.tag, docs=batch.docs[start:end], ack=batch.ack, origin=batch.origin, offsets=offsets)


class OutputRunner:
    """The engine side of an output: plugins only write chunks and say what happened."""

    def __init__(
        self,
        name: str,
        output: Output,
        options: BufferOptions,
        metrics: AgentMetrics,
        ledger: Ledger | None = None,
        data_dir: str = "",
        shared: SharedLimit | None = None,
    ) -> None:
        self.name = name
        self.output = output
        self.options = options
        self.buffer = make_buffer(name, options, data_dir, shared)
        self.buffer.on_drop = self._dropped
        self.retry = RetryPolicy(options)
        self.metrics = metrics
        self.ledger = ledger or Ledger()
        dl_path = options.dead_letter_path or (
            os.path.join(data_dir, "deadletter", f"{_safe(name)}.ndjson") if data_dir else "")
        self.dead_letter = DeadLetter(name, dl_path)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._flush_all = False
        self._deadline = float("inf")
        self._retry_attempts = 0
        self._retry_at = 0.0
        self._was_blocked = False
        self._pending: list[tuple[Chunk, Any]] = []  # written, waiting for the output to make them durable
        self._pending_cond = threading.Condition()

    def start(self) -> None:
        if isinstance(self.buffer, FileBuffer):
            self.buffer.replay(self.ledger)  # replayed records settle as REPLAYED
            if self.buffer.replayed_records:
                self.ledger.add_read(REPLAYED, self.buffer.replayed_records)
        self.output.start()
        for i in range(max(1, self.options.flush_thread_count)):
            t = threading.Thread(target=self._work, name=f"flush:{self.name}:{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._settle_loop, name=f"settle:{self.name}", daemon=True)
        t.start()
        self._threads.append(t)

    def submit(self, batch: Batch) -> None:
        """Hold the batch until delivered (or durably buffered); blocks while the buffer is full.

        A batch bigger than ``chunk_limit_size`` is cut into parts sharing its ack, so chunks
        and the buffer's total stay within their limits whatever an input hands over.
        """
        for part in _split(batch, self.options.chunk_limit_size):
            if not self._submit(part):
                return  # shutting down: the rest is not acknowledged either

    def _submit(self, batch: Batch) -> bool:
        batch.ack.retain()
        try:
            self.buffer.put(batch)
        except BufferClosed:
            # Shutting down: never acked, so its offsets are not committed and it is read again.
            return False
        except BufferOverflow as exc:
            self._give_up_batch(batch, f"buffer_overflow: {exc}")
            return True
        finally:
            self._gauges()
        if self.buffer.durable:
            batch.ack.release()  # safely on disk: the input may checkpoint past it
        return True

    def _give_up_batch(self, batch: Batch, reason: str) -> None:
        """overflow_action throw_exception: the batch is refused, counted as dropped, and acked."""
        n = len(batch)
        self.metrics.output_records.labels(self.name, "dropped").inc(n)
        batch.ack.settle(n, "buffer_overflow")
        log.warning("output %s: %d records dropped (%s)", self.name, n, reason)
        batch.ack.dropped += n
        batch.ack.release()

    def _dropped(self, chunk: Chunk, reason: str) -> None:
        """overflow_action drop_oldest_chunk gave a chunk up: count it (the buffer releases the acks)."""
        n = len(chunk)
        self.metrics.output_records.labels(self.name, "dropped").inc(n)
        chunk.tally().settle(1.0, reason)
        log.warning("output %s: buffer full, oldest chunk dropped (%d records)", self.name, n)

    # --- flushing ------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            chunk = self.buffer.take(timeout=0.2, flush_all=self._flush_all)
            if chunk is not None:
                self._deliver(chunk)

    def _deliver(self, chunk: Chunk) -> None:
        first_try = time.monotonic()
        settled = 0  # records of this chunk already dead-lettered (refused for good in an earlier attempt)
        while True:
            chunk.attempts += 1
            result = self._write(chunk)
            if result.rejected:  # final whatever the status: dead-letter now, so a later give-up loses none
                settled += len(result.rejected)
                self._dead_letter(chunk, result.rejected, len(result.rejected) / len(chunk))
            if result.status is Status.PENDING and result.settle is not None:
                with self._pending_cond:  # acked (or retried) by the settle thread, in write order
                    self._pending.append((chunk, result.settle))
                    self._pending_cond.notify()
                return
            if result.status is Status.DELIVERED:
                self._clear_retry()
                self._finish(chunk, settled)
                return
            if result.status is Status.REJECTED:
                self._clear_retry()
                self.metrics.output_errors.labels(self.name, "permanent").inc()
                self._reject(chunk, result.reason, settled)
                return
            if result.remaining is not None:  # part delivered: the next attempt sends only the rest
                chunk.narrow(result.remaining)
            self.metrics.output_retries.labels(self.name).inc()
            self.metrics.output_retried_records.labels(self.name).inc(len(chunk.docs()))
            self.metrics.output_errors.labels(self.name, "retryable").inc()
            if self.retry.give_up(chunk.attempts, time.monotonic() - first_try):
                self._clear_retry()
                self._reject(chunk, f"gave up after {chunk.attempts} attempts: {result.reason}", settled)
                return
            wait = self.retry.wait(chunk.attempts)
            self._retry_attempts, self._retry_at = chunk.attempts, time.monotonic() + wait
            log.warning("output %s: %s; retry %d in %.1fs", self.name, result.reason, chunk.attempts, wait)
            if self._sleep(wait):
                self.buffer.requeue(chunk)  # shutting down: hand it back undelivered (not acked)
                return

    def _settle_loop(self) -> None:
        """Waits for pending chunks to become durable, then acks them or sends them through the retry path."""
        while True:
            with self._pending_cond:
                while not self._pending:
                    if self._stop.is_set():
                        return
                    self._pending_cond.wait(0.2)
                chunk, settle = self._pending.pop(0)
            try:
                result = settle()
            except Exception as exc:
                log.exception("output %s raised while settling", self.name)
                result = Result.retry(f"{type(exc).__name__}: {exc}")
            if result.status is Status.DELIVERED:
                self._clear_retry()
                self._finish(chunk, 0)
            elif result.status is Status.REJECTED:
                self.metrics.output_errors.labels(self.name, "permanent").inc()
                self._reject(chunk, result.reason, 0)
            else:  # not durable after all: back in the queue, written again by a flush thread
                self.metrics.output_errors.labels(self.name, "retryable").inc()
                log.warning("output %s: %s; the chunk is written again", self.name, result.reason)
                self.buffer.requeue(chunk)

    def _write(self, chunk: Chunk) -> Result:
        try:
            return self.output.write(chunk)
        except Exception as exc:  # a plugin bug or I/O error must not kill the flush thread
            log.exception("output %s raised while writing", self.name)
            return Result.retry(f"{type(exc).__name__}: {exc}")

    def _clear_retry(self) -> None:
        self._retry_attempts, self._retry_at = 0, 0.0

    def _sleep(self, seconds: float) -> bool:
        """Wait before a retry; True if shutdown's deadline came first."""
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            if now >= self._deadline or self._stop.is_set():
                return True
            time.sleep(min(0.05, end - now))
        return False

    def _finish(self, chunk: Chunk, settled: int) -> None:
        """Every record not dead-lettered was delivered."""
        self._delivered(chunk, len(chunk) - settled)
        self._release(chunk)

    def _reject(self, chunk: Chunk, reason: str, settled: int) -> None:
        """Give up what is still pending; what earlier attempts delivered stays counted as delivered."""
        docs = chunk.docs()
        total = len(chunk)
        self._dead_letter(chunk, [(d, reason) for d in docs], len(docs) / max(total, 1))
        self._delivered(chunk, total - settled - len(docs))
        self._release(chunk)

    def _delivered(self, chunk: Chunk, n: int) -> None:
        if n > 0:
            self.metrics.output_records.labels(self.name, "delivered").inc(n)
            chunk.tally().settle(n / max(len(chunk), 1))

    def _dead_letter(self, chunk: Chunk, items: list[tuple[bytes, str]], fraction: float) -> None:
        """Records given up for good: into the dead-letter file, counted, never silently dropped."""
        stored = self.dead_letter.write(chunk.tag, items)
        status, reason = ("dead_lettered", "dead_letter") if stored else ("dropped", "dead_letter_failed")
        self.metrics.output_records.labels(self.name, status).inc(len(items))
        chunk.tally().settle(fraction, reason)
        if fraction >= 1.0:
            for batch in chunk.batches:
                batch.ack.dropped += len(batch)
        reasons = sorted({r for _, r in items})[:3]
        log.error("output %s gave up %d records (%s): %s", self.name, len(items),
                  f"in {self.dead_letter.path}" if stored and self.dead_letter.path else status, "; ".join(reasons))

    def _release(self, chunk: Chunk) -> None:
        batches = chunk.batches
        self.buffer.done(chunk)
        for batch in batches:
            batch.ack.release()
        self._gauges()

    def _gauges(self) -> None:
        blocked = self.buffer.blocked_since is not None
        if blocked and not self._was_blocked:
            self.metrics.buffer_pauses.labels(self.name).inc()
        self._was_blocked = blocked
        self.metrics.buffer_bytes.labels(self.name).set(self.buffer.bytes)
        self.metrics.buffer_chunks.labels(self.name).set(self.buffer.chunks)
        self.metrics.buffer_blocked.labels(self.name).set(1 if blocked else 0)

    def status(self) -> dict[str, Any]:
        """Live state for /status, /metrics and ``podlog status``."""
        self._gauges()
        buf = self.buffer
        return {
            "name": self.name, "type": self.output.name, "buffer_type": self.options.type,
            "buffer_bytes": buf.bytes, "buffer_limit": buf.limit, "buffer_chunks": buf.chunks,
            "blocked": buf.blocked_since is not None,
            "retry_attempts": self._retry_attempts,
            "retry_next_seconds": max(0.0, self._retry_at - time.monotonic()) if self._retry_attempts else 0.0,
            "buffer_write_errors": buf.write_errors, "buffer_error": buf.last_error,
            "running": bool(self._threads) and all(t.is_alive() for t in self._threads),
            # per-item outcomes an output counts itself (Elasticsearch: indexed, duplicate, retry_429, ...)
            "items": self.output.stats(),
        }

    # --- shutdown ----------------------------------------------------------------------

    def refuse(self) -> None:
        """Stop accepting batches so inputs blocked on a full buffer can stop (their data is re-read)."""
        self.buffer.refuse()

    def drain(self, deadline: float) -> bool:
        """Flush everything staged; True if the buffer emptied before ``deadline``."""
        if not self.options.flush_at_shutdown:
            deadline = time.monotonic()  # leave it: a file buffer keeps it, a memory buffer's lines are re-read
        self._deadline = deadline
        self._flush_all = True
        while time.monotonic() < deadline:
            if self.buffer.empty():
                return True
            time.sleep(0.02)
        return self.buffer.empty()

    def stop(self) -> None:
        self._stop.set()
        self.buffer.close()
        for t in self._threads:
            t.join(timeout=5)
        self.output.stop()
