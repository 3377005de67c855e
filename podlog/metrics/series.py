"""The series of one metric: bounded in number, forgotten when idle.

Label values come from log records, so a field with many distinct values
(client addresses, request paths with ids) would grow a metric without end.
A ``SeriesTable`` keeps its series in least-recently-updated order:

* past ``max_series`` the series updated longest ago is evicted (LRU);
* a series not updated for ``expire`` seconds is dropped. Gauges expire
  early (a stale gauge misleads); counters and histograms should be kept
  well beyond the scrape interval and any ``rate()`` window, since a counter
  that disappears and comes back starting from zero looks like a reset.

Updates come a batch at a time (one lock per batch, not per record); the
clock is injected so tests control time.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["COUNTER", "GAUGE", "HISTOGRAM", "KINDS", "SeriesTable", "TableSpec"]

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
KINDS = (COUNTER, GAUGE, HISTOGRAM)

Labels = tuple[str, ...]

log = logging.getLogger("podlog.metrics")


@dataclass(frozen=True)
class TableSpec:
    """What makes a metric the same metric across a reload: its series carry over only if all of this matches."""

    name: str
    kind: str
    labelnames: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    @property
    def exposed(self) -> str:
        """The name Prometheus sees: counters always end in _total (``x`` and ``x_total`` are one metric)."""
        if self.kind != COUNTER:
            return self.name
        return self.name if self.name.endswith("_total") else f"{self.name}_total"


class SeriesTable:
    """The series of one metric, keyed by label values, in least-recently-updated order.

    Each entry is a list: ``[value, last_update]`` for counters and gauges,
    ``[bucket_counts, sum, last_update]`` for histograms (counts per bucket,
    not yet cumulative; the last slot is +Inf).
    """

    def __init__(self, spec: TableSpec, help: str, max_series: int, expire: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.help = help
        self.max_series = max_series
        self.expire = expire
        self.clock = clock
        self.series: OrderedDict[Labels, list[Any]] = OrderedDict()
        self.evicted = 0  # past max_series
        self.expired = 0  # idle past expire
        self.invalid = 0  # records whose value was missing or not a number
        self.lock = threading.Lock()

    def add(self, amounts: Mapping[Labels, float]) -> None:
        """Counters: add each amount to its series."""
        with self.lock:
            now = self.clock()
            series, limit = self.series, self.max_series
            get, move = series.get, series.move_to_end
            for labels, amount in amounts.items():  # _entry inlined: one call less per series on this hot path
                entry = get(labels)
                if entry is None:
                    series[labels] = [amount, now]
                    if limit and len(series) > limit:
                        self._evict()
                else:
                    entry[0] += amount
                    entry[1] = now
                    move(labels)
            self._expire(now)

    def set(self, values: Mapping[Labels, float]) -> None:
        """Gauges: each series takes its (latest) value."""
        with self.lock:
            now = self.clock()
            for labels, value in values.items():
                self._entry(labels, now, 0.0)[0] = value
            self._expire(now)

    def observe(self, samples: Mapping[Labels, Iterable[float]]) -> None:
        """Histograms: count each value in its bucket and add it to the sum."""
        bounds = self.spec.buckets
        with self.lock:
            now = self.clock()
            for labels, values in samples.items():
                entry = self._entry(labels, now, None)
                counts = entry[0]
                for v in values:
                    counts[bisect.bisect_left(bounds, v)] += 1
                    entry[1] += v
            self._expire(now)

    def _entry(self, labels: Labels, now: float, initial: float | None) -> list[Any]:
        series = self.series
        entry = series.get(labels)
        if entry is None:
            entry = [[0] * (len(self.spec.buckets) + 1), 0.0, now] if initial is None else [initial, now]
            series[labels] = entry
            while self.max_series and len(series) > self.max_series:
                self._evict()
        else:
            entry[-1] = now
            series.move_to_end(labels)
        return entry

    def _evict(self) -> None:
        """Drop the least recently updated series (the lock is held); the first time, say so in the log."""
        self.series.popitem(last=False)
        self.evicted += 1
        if self.evicted == 1:
            log.warning("metric %s reached max_series (%d): its least recently updated series are evicted "
                        "(podlog_metrics_series_evicted_total); consider fewer labels", self.spec.exposed,
                        self.max_series)

    def _expire(self, now: float) -> None:
        """Drop idle series; they sit at the front (least recently updated), so this stops at the first live one."""
        if not self.expire:
            return
        series = self.series
        limit = now - self.expire
        while series:
            entry = series[next(iter(series))]
            if entry[-1] > limit:
                break
            series.popitem(last=False)
            self.expired += 1

    def snapshot(self) -> list[tuple[Labels, list[Any]]]:
        """Live series at scrape time (idle ones dropped first), copied so the scrape holds no lock."""
        with self.lock:
            self._expire(self.clock())
            if self.spec.kind == HISTOGRAM:
                return [(k, [list(e[0]), e[1]]) for k, e in self.series.items()]
            return [(k, [e[0]]) for k, e in self.series.items()]

    def adopt(self, old: SeriesTable) -> None:
        """Take the series and tallies of the table this one replaces (a reload that kept the metric)."""
        with old.lock:  # the lock goes along: a batch still on the old rules shares the series
            self.lock, self.series = old.lock, old.series
            self.evicted, self.expired, self.invalid = old.evicted, old.expired, old.invalid
        with self.lock:
            while self.max_series and len(self.series) > self.max_series:
                self._evict()

