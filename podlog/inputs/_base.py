"""Input base: an input runs on its own thread(s) and hands batches to ``emit``."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from podlog.batch import Batch
from podlog.plugin import Plugin

__all__ = ["Emit", "Input"]

Emit = Callable[[Batch], None]


class Input(Plugin):
    """``emit`` may block: that is backpressure, and the input stops reading meanwhile."""

    kind: ClassVar[str] = "input"

    def run(self, emit: Emit) -> None:
        """Start producing batches (on its own threads) until ``stop``."""
        raise NotImplementedError

    def healthy(self) -> bool:
        """False once a worker thread died: /healthz fails, so the kubelet restarts the agent."""
        return True

    def finished(self) -> bool:
        """True when a bounded input (``exit_on_eof``) has read everything."""
        return False

    def commit(self) -> None:
        """Persist acknowledged positions now (shutdown, timers)."""
