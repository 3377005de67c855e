"""Filter base: one call per batch."""

from __future__ import annotations

from typing import ClassVar

from podlog.batch import Batch
from podlog.plugin import Plugin

__all__ = ["Filter"]


class Filter(Plugin):
    """Transforms a batch in place or returns a new one; returning None drops it.

    A filter that drops records must still let the batch's ack flow on: the
    engine releases the ack of a dropped batch, so offsets are committed.
    """

    kind: ClassVar[str] = "filter"

    def filter(self, batch: Batch) -> Batch | None:
        raise NotImplementedError
