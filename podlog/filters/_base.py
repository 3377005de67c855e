"""Filter base: one call per batch, which says what it did with the records."""

from __future__ import annotations

from typing import Any, ClassVar

from podlog.batch import Batch
from podlog.plugin import Plugin

__all__ = ["Filter", "Filtered"]


class Filtered:
    """What one ``filter`` call did with a batch of ``given`` records.

    ``batch`` is what goes on (None when nothing does); ``kept + dropped + moved == given``.
    Moved records were re-emitted under another tag: they are not lost, so routing does not
    count them as filtered. Dropped ones are counted by routing (the filtered-records metric
    and the loss ledger), never by the filter. One small object per batch, none per record.
    """

    __slots__ = ("batch", "dropped", "kept", "moved")

    def __init__(self, batch: Batch | None, given: int, moved: int = 0) -> None:
        self.batch = batch
        self.kept = len(batch) if batch is not None else 0
        self.moved = moved
        self.dropped = given - self.kept - moved

    def __repr__(self) -> str:
        return f"Filtered(kept={self.kept}, dropped={self.dropped}, moved={self.moved})"


class Filter(Plugin):
    """Transforms a batch in place (or builds a new one) and returns a ``Filtered``.

    A filter that drops records must still let the batch's ack flow on: routing
    releases the ack of a batch that nothing is left of, so offsets are committed.

    Context a filter may get from the pipeline: ``emit`` (re-enter routing in the
    filter's own section, for tag rewrites), ``metrics`` (the agent's
    ``AgentMetrics``) and ``name`` (the filter's id, for metric labels).
    """

    kind: ClassVar[str] = "filter"

    def filter(self, batch: Batch) -> Filtered:
        raise NotImplementedError

    # --- optional abilities: neutral defaults, so callers never probe for them -----------------

    reloadable: ClassVar[bool] = False  # True: ``reload`` takes new options while running (SIGHUP)

    def reload(self, options: Any) -> None:
        """Take new options without a restart (only where ``reloadable``)."""
        raise NotImplementedError(f"filter {self.name} cannot reload its options")
