"""Retry waits: exponential backoff with jitter, capped, with a give-up rule."""

from __future__ import annotations

import random

from podlog.buffer.options import BufferOptions

__all__ = ["RetryPolicy"]


class RetryPolicy:
    def __init__(self, options: BufferOptions, rng: random.Random | None = None) -> None:
        self.o = options
        self._rng = rng or random.Random()

    def wait(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based)."""
        o = self.o
        if o.retry_type == "periodic":
            base = o.retry_wait
        else:
            base = min(o.retry_wait * (o.retry_exponential_backoff_base ** (attempt - 1)), o.retry_max_interval)
        if o.retry_randomize:
            base *= self._rng.uniform(0.5, 1.0)  # full jitter within half the step: no lockstep retries
        return min(base, o.retry_max_interval)

    def give_up(self, attempt: int, elapsed: float) -> bool:
        o = self.o
        if o.retry_forever:
            return False
        if o.retry_max_times >= 0 and attempt > o.retry_max_times:
            return True
        return elapsed >= o.retry_timeout
