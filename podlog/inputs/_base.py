"""Input base: an input runs on its own thread(s) and hands batches to ``emit``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from podlog.batch import Batch
from podlog.plugin import Plugin

__all__ = ["Emit", "Input", "SampleError", "Sampler"]

Emit = Callable[[Batch], None]


class SampleError(ValueError):
    """A sample line this input could never have received (the dry run shows the reason)."""


class Sampler:
    """How a dry run (``podlog check --input``) makes an input's records from sample lines, with the input's
    own code, nothing started.

    ``tag`` is the records' tag unless a line chooses its own; ``about`` says how the lines enter ("read by"),
    ``own_tag`` whether the tag is the source's (not its clients'), ``follows`` whether the source reads the
    sample's file path: a dry run prefers such sources.
    """

    about = "sent to"

    def __init__(self, tag: str, own_tag: bool = True, follows: bool = False) -> None:
        self.tag = tag
        self.own_tag = own_tag
        self.follows = follows

    def decode(self, line: bytes) -> tuple[str, list[bytes]]:
        """The tag and documents the input makes of one line (none while it waits for more); SampleError if
        the line cannot come from this input."""
        raise NotImplementedError

    def held(self) -> bool:
        """Whether the lines so far wait for the rest of their record (a partial line, a multiline event)."""
        return False

    def flush(self) -> list[bytes]:
        """At the end of the sample: the documents of what was still held."""
        return []

    def describe(self) -> str:
        """Lines for the dry run's header (how the input reads the sample), each ending in a newline."""
        return ""


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

    # --- optional abilities: neutral defaults, so callers never probe for them -----------------

    read_records: int = 0  # records read so far (inputs that count them set these)
    read_bytes: int = 0

    def lag_bytes(self) -> dict[str, int]:
        """Bytes of each followed file not yet acknowledged (file inputs)."""
        return {}

    def files_waiting(self) -> dict[str, int]:
        """Matched files not followed now, by reason (file inputs)."""
        return {}

    def status(self) -> dict[str, Any]:
        """Fields of this input's own for /status and /metrics (push inputs: connections, refused)."""
        return {}

    def sampler(self, tag: str | None, path: str) -> Sampler | None:
        """How a dry run feeds sample lines (from ``path``) to this input, its records tagged ``tag`` (None:
        as the input tags them). None when its records cannot carry ``tag`` or it cannot take lines: the dry
        run then says so and routes the lines as plain messages."""
        return None
