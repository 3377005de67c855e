"""Output base: write a chunk, say what happened; the runner (``buffer/runner.py``) retries and acks.

``Chunk``, ``Result`` and ``Status`` live in ``podlog.buffer`` with the rest of delivery; they are
imported here too because they are what an output plugin is written against.
"""

from __future__ import annotations

from typing import ClassVar

from podlog.buffer.chunk import Chunk
from podlog.buffer.result import Result, Status
from podlog.plugin import Plugin

__all__ = ["Chunk", "Output", "Result", "Status"]


class Output(Plugin):
    """Outputs implement ``write``; buffering, retries and acks belong to the runner.

    ``write`` is given the chunk's documents still to deliver (``chunk.docs()``, or
    ``chunk.parts()`` for their batches) and returns a ``Result``. An output that
    delivered part of them returns ``Result.partial`` naming the rest by position;
    it keeps nothing about the chunk between calls.
    """

    kind: ClassVar[str] = "output"

    def write(self, chunk: Chunk) -> Result:
        raise NotImplementedError

    # --- optional abilities: neutral defaults, so callers never probe for them -----------------

    def stats(self) -> dict[str, int]:
        """Per-item counts of this output's own for /status (e.g. Elasticsearch's item errors)."""
        return {}
