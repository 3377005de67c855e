"""Runs one output: its buffer, its flush threads, retries, and the acks of delivered chunks."""

from __future__ import annotations

import logging
import threading
import time

from podlog.batch import Batch
from podlog.buffer.memory import BufferClosed, MemoryBuffer
from podlog.buffer.options import BufferOptions
from podlog.buffer.retry import RetryPolicy
from podlog.outputs._base import Chunk, Output, Result, Status
from podlog.telemetry.metrics import AgentMetrics

__all__ = ["OutputRunner"]

log = logging.getLogger("podlog.output")


class OutputRunner:
    """The engine side of an output: plugins only write chunks and say what happened."""

    def __init__(self, name: str, output: Output, options: BufferOptions, metrics: AgentMetrics) -> None:
        self.name = name
        self.output = output
        self.options = options
        self.buffer = MemoryBuffer(options)
        self.retry = RetryPolicy(options)
        self.metrics = metrics
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._flush_all = False
        self._deadline = float("inf")

    def start(self) -> None:
        self.output.start()
        for i in range(max(1, self.options.flush_thread_count)):
            t = threading.Thread(target=self._work, name=f"flush:{self.name}:{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, batch: Batch) -> None:
        """Hold the batch until delivered; blocks while the buffer is full (backpressure)."""
        batch.ack.retain()
        try:
            self.buffer.put(batch)
        except BufferClosed:
            # Shutting down: never acked, so its offsets are not committed and it is read again.
            return
        self._gauges()

    # --- flushing ------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            chunk = self.buffer.take(timeout=0.2, flush_all=self._flush_all)
            if chunk is not None:
                self._deliver(chunk)

    def _deliver(self, chunk: Chunk) -> None:
        first_try = time.monotonic()
        while True:
            chunk.attempts += 1
            try:
                result = self.output.write(chunk)
            except Exception as exc:  # a plugin bug or I/O error must not kill the flush thread
                log.exception("output %s raised while writing", self.name)
                result = Result.retry(f"{type(exc).__name__}: {exc}")
            if result.status is Status.DELIVERED:
                self._finish(chunk, result)
                return
            if result.status is Status.REJECTED:
                self._reject(chunk, result.reason)
                return
            self.metrics.output_retries.labels(self.name).inc()
            if self.retry.give_up(chunk.attempts, time.monotonic() - first_try):
                self._reject(chunk, f"gave up after {chunk.attempts} attempts: {result.reason}")
                return
            wait = self.retry.wait(chunk.attempts)
            log.warning("output %s: %s; retry %d in %.1fs", self.name, result.reason, chunk.attempts, wait)
            if self._sleep(wait):
                self.buffer.requeue(chunk)  # shutting down: hand it back undelivered (not acked)
                return

    def _sleep(self, seconds: float) -> bool:
        """Wait before a retry; True if shutdown's deadline came first."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if time.monotonic() >= self._deadline or self._stop.is_set():
                return True
            time.sleep(min(0.05, end - time.monotonic()) if end > time.monotonic() else 0)
        return False

    def _finish(self, chunk: Chunk, result: Result) -> None:
        count = len(chunk)
        rejected = len(result.rejected)
        if rejected:
            self._dead_letter(result.rejected)
        self.metrics.output_records.labels(self.name, "delivered").inc(count - rejected)
        self._release(chunk)

    def _reject(self, chunk: Chunk, reason: str) -> None:
        docs = chunk.docs()
        self._dead_letter([(d, reason) for d in docs])
        self._release(chunk)

    def _dead_letter(self, items: list[tuple[bytes, str]]) -> None:
        self.metrics.output_records.labels(self.name, "rejected").inc(len(items))
        reasons = sorted({r for _, r in items})[:3]
        log.error("output %s rejected %d records for good: %s", self.name, len(items), "; ".join(reasons))

    def _release(self, chunk: Chunk) -> None:
        self.buffer.done(chunk)
        for batch in chunk.batches:
            batch.ack.release()
        self._gauges()

    def _gauges(self) -> None:
        self.metrics.buffer_bytes.labels(self.name).set(self.buffer.bytes)
        self.metrics.buffer_chunks.labels(self.name).set(self.buffer.chunks)
        self.metrics.buffer_blocked.labels(self.name).set(1 if self.buffer.blocked_since else 0)

    # --- shutdown ----------------------------------------------------------------------

    def drain(self, deadline: float) -> bool:
        """Flush everything staged; True if the buffer emptied before ``deadline``."""
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
