"""Discard records on purpose (Fluentd's ``@type null``), counted like any delivery."""

from __future__ import annotations

from podlog.outputs._base import Chunk, Output, Result

__all__ = ["NullOutput"]


class NullOutput(Output):
    """Acknowledges every chunk without writing it: a ``<match>`` that silences a tag on purpose.

    The records count as delivered to this output in ``/metrics`` and the loss ledger, so what a
    config throws away stays visible.
    """

    name = "null"

    def write(self, chunk: Chunk) -> Result:
        return Result.ok()
