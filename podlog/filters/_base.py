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

    Context a filter may get from the engine: ``emit`` (re-enter routing in the
    filter's own section, for tag rewrites), ``metrics`` (the agent's
    ``AgentMetrics``) and ``name`` (the filter's id, for metric labels).
    """

    kind: ClassVar[str] = "filter"

    def filter(self, batch: Batch) -> Batch | None:
        raise NotImplementedError

    def moved(self) -> int:
        """Records the latest ``filter`` call on this thread re-emitted under a new tag.

        They left the batch without being dropped, so the engine must not count
        them as filtered. Only filters that call ``emit`` override this.
        """
        return 0
