"""Reading the fields metric rules need from a whole batch at once.

A serialised batch is decoded in one call: the documents joined into one
JSON array, decoded by msgspec into structs holding only the wanted
(top-level) fields, the rest skipped without being built. Label tuples then
come from ``map(attrgetter(...), rows)``, and a counter's tally from a
``Counter`` over that: no Python code runs per record. Nested keys, decoded
records or a document that does not fit take ``FieldReader``'s per-document
path.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import Any

import msgspec

from podlog.batch import Batch
from podlog.fields import FieldReader, Key

__all__ = ["BatchReader", "Columns"]


class Columns:
    """The wanted fields of one batch, by key index: whole columns, or label tuples straight from rows."""

    __slots__ = ("_cache", "_lists", "_rows")

    def __init__(self, lists: list[list[Any]] | None = None, rows: list[Any] | None = None) -> None:
        self._lists = lists
        self._rows = rows
        self._cache: dict[int, list[Any]] = {}

    def __getitem__(self, i: int) -> list[Any]:
        if self._lists is not None:
            return self._lists[i]
        column = self._cache.get(i)
        if column is None:
            column = self._cache[i] = list(map(attrgetter(f"f{i}"), self._rows or ()))
        return column

    def tuples(self, indexes: tuple[int, ...]) -> Iterable[tuple[Any, ...]]:
        """Per record, the values of these keys."""
        if self._rows is not None and len(indexes) > 1:
            return map(attrgetter(*(f"f{i}" for i in indexes)), self._rows)
        return zip(*(self[i] for i in indexes), strict=True)


class BatchReader:
    """Reads a fixed list of keys from batches; one decode call per serialised batch when the keys are flat."""

    def __init__(self, keys: list[Key]) -> None:
        self.fields = FieldReader(keys)
        self._decoder: msgspec.json.Decoder[Any] | None = None
        if all(len(k) == 1 for k in keys):
            # gc=False: decoded JSON cannot form reference cycles, and untracked rows cost the collector nothing
            row = msgspec.defstruct("Row", [(f"f{i}", Any, msgspec.field(default=None, name=k[0]))
                                            for i, k in enumerate(keys)], gc=False)
            self._decoder = msgspec.json.Decoder(list[row])  # type: ignore[valid-type]

    def read(self, batch: Batch) -> Columns:
        if self._decoder is not None and batch.has_docs():
            try:
                return Columns(rows=self._decoder.decode(b"[%b]" % b",".join(batch.docs)))
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass  # one odd document: read each on its own
        return Columns(lists=self.fields.read(batch))
