"""The ``sample`` filter (Fluentd: ``@type sampling``): keep 1 record in N, or a fraction, per group.

Counting (``interval``) keeps the 1st, (N+1)th... record of each group, so
the result is exact and repeatable for one stream. ``probability`` draws at
random. With ``hash_key`` the decision is a pure function of that field's
value (a stable hash, not Python's salted ``hash``): every agent, replica or
``copy`` branch keeps the same records, and all records of one trace id are
kept or dropped together.

Decisions are made per group and batch with arithmetic (which positions of
the batch fall on the 1-in-N grid), not a counter step per record.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar

from podlog.batch import Batch
from podlog.config.options import Option
from podlog.fields import FieldReader, as_text, parse_key
from podlog.filters._base import Filter, Filtered

__all__ = ["SampleFilter"]

_GOLDEN = 0x9E3779B1  # multiplicative mixing: crc32 alone clusters for keys that differ in one digit
_RANGE = 1 << 32
MAX_GROUPS = 10_000  # groups whose counters are kept


class _Count:
    __slots__ = ("minute", "per_minute", "seen")

    def __init__(self) -> None:
        self.seen = 0
        self.minute = -1
        self.per_minute = 0


class SampleFilter(Filter):
    """Keeps 1 in interval records (or a probability) per group; hash_key makes it deterministic across agents."""

    name: ClassVar[str] = "sample"
    aliases: ClassVar[tuple[str, ...]] = ("sampling",)

    class Options(Filter.Options):
        interval = Option("int", 0, doc="Keep 1 record of every interval (per group).", min=0)
        probability = Option("float", 0.0, doc="Instead of interval: keep each record with this probability "
                             "(0 to 1).", min=0, max=1)
        sample_unit = Option("str", "tag", doc="Groups: tag (one per tag), all (one for everything) or a field "
                             "(dotted path or $.a.b) whose values are the groups.")
        minimum_rate_per_min = Option("int", 0, doc="Keep every record of a group while it has had fewer than "
                                      "this many this minute.")
        hash_key = Option("str", "", doc="podlog extension: decide from a stable hash of this field, so copies "
                          "and other agents keep the same records (records without it are kept).")

        def validate(self, given: set[str]) -> None:
            super().validate(given)
            if (self.interval > 0) == (self.probability > 0):
                raise self.error("interval", "set exactly one of interval (1 in N) or probability (0 to 1)")
            if self.hash_key and self.minimum_rate_per_min:
                raise self.error("minimum_rate_per_min", "cannot be combined with hash_key: a per-agent minimum "
                                 "would make copies disagree")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.fraction = 1 / options.interval if options.interval else options.probability
        try:
            self.hash_key = parse_key(options.hash_key) if options.hash_key else None
            unit = options.sample_unit
            self.unit_key = parse_key(unit) if unit not in ("tag", "all") else None
        except ValueError as exc:
            raise options.error("hash_key" if options.hash_key else "sample_unit", str(exc)) from None
        keys = [k for k in (self.hash_key, self.unit_key) if k]
        self.reader = FieldReader(keys) if keys else None
        self.threshold = int(self.fraction * _RANGE)
        self.counts: dict[str, _Count] = {}
        self.lock = threading.Lock()
        self.random = random.Random()

    def filter(self, batch: Batch) -> Filtered:
        n = len(batch)
        if not n:
            return Filtered(batch, n)
        columns = self.reader.read(batch) if self.reader is not None else []
        if self.hash_key is not None:
            mask = self._by_hash(columns[0])
        else:
            groups = self._groups(batch, columns[-1] if self.unit_key else None)
            mask = [False] * n
            with self.lock:
                minute = int(time.monotonic() // 60)
                for group, positions in groups.items():
                    self._sample(self.counts.setdefault(group, _Count()), positions, minute, mask)
                if len(self.counts) > MAX_GROUPS:
                    self._prune(minute)
        if not all(mask):
            batch.keep(mask)
        return Filtered(batch, n)

    def _prune(self, minute: int) -> None:
        """Bound memory with a high-cardinality ``sample_unit``: forget groups idle since the last minute,
        then the oldest. A forgotten group starts its 1-in-N grid and its minimum rate afresh."""
        self.counts = {g: c for g, c in self.counts.items() if c.minute >= minute - 1}
        while len(self.counts) > MAX_GROUPS:
            del self.counts[next(iter(self.counts))]

    def _by_hash(self, values: list[Any]) -> list[bool]:
        crc, threshold = zlib.crc32, self.threshold
        return [v is None or ((crc((v if type(v) is str else as_text(v)).encode()) * _GOLDEN) % _RANGE) < threshold
                for v in values]

    def _groups(self, batch: Batch, values: list[Any] | None) -> dict[str, Sequence[int]]:
        if values is None:
            return {batch.tag if self.options.sample_unit == "tag" else "": range(len(batch))}
        out: dict[str, list[int]] = {}
        for i, v in enumerate(values):
            out.setdefault(v if type(v) is str else as_text(v), []).append(i)
        return out  # type: ignore[return-value]

    def _sample(self, count: _Count, positions: Sequence[int], minute: int, mask: list[bool]) -> None:
        """Mark the kept ``positions`` of one group in ``mask``, and advance its counters."""
        n = len(positions)
        if count.minute != minute:
            count.minute, count.per_minute = minute, 0
        free = min(n, max(0, self.options.minimum_rate_per_min - count.per_minute))
        for i in positions[:free]:
            mask[i] = True
        rest = positions[free:]
        if self.options.interval:
            step = self.options.interval
            first = (-count.seen) % step  # the next record on the 1-in-N grid
            for i in rest[first::step]:
                mask[i] = True
        else:
            draw, p = self.random.random, self.options.probability
            for i in rest:
                mask[i] = draw() < p
        count.seen += len(rest)
        count.per_minute += n
