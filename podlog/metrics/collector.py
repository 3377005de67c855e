"""Metrics from logs on the agent's ``/metrics``: one prometheus_client collector per registry.

Every ``metrics`` filter of an agent hands its tables to the one collector of
the agent's registry, which checks that no two filters define the same
metric and yields the families, plus its own self-metrics, at scrape time.
One collector (not one per filter) so that the self-metrics families appear
once however many filters there are.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from podlog.metrics.series import COUNTER, GAUGE, SeriesTable

__all__ = ["LogMetricsCollector", "collector_for"]

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, LogMetricsCollector] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def collector_for(registry: CollectorRegistry) -> LogMetricsCollector:
    """The registry's collector, registered on first use."""
    with _LOCK:
        found = _BY_REGISTRY.get(registry)
        if found is None:
            found = _BY_REGISTRY[registry] = LogMetricsCollector()
            registry.register(found)
        return found


class LogMetricsCollector(Collector):
    """The tables of every metrics filter (by owner: the filter's name) and the self-metrics."""

    def __init__(self) -> None:
        self._owners: dict[str, list[SeriesTable]] = {}
        self._lock = threading.Lock()

    def claim(self, owner: str, tables: list[SeriesTable]) -> None:
        """Expose ``tables`` for ``owner`` (replacing what it had); ValueError if another owner has a name."""
        with self._lock:
            taken = {t.spec.exposed: o for o, ts in self._owners.items() if o != owner for t in ts}
            for table in tables:
                name = table.spec.exposed
                if name in taken:
                    raise ValueError(f"metric {name} is already defined by filter {taken[name]}")
            self._owners[owner] = list(tables)

    def release(self, owner: str) -> None:
        with self._lock:
            self._owners.pop(owner, None)

    def describe(self) -> list[Metric]:
        return []  # families change with reloads: built per scrape

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            tables = [t for ts in self._owners.values() for t in ts]
        series = GaugeMetricFamily("podlog_metrics_series", "Series a metric from logs holds now.", labels=["metric"])
        evicted = CounterMetricFamily("podlog_metrics_series_evicted", "Series of a metric from logs dropped: "
                                      "limit (max_series reached, least recently updated first) or idle (expire).",
                                      labels=["metric", "reason"])
        skipped = CounterMetricFamily("podlog_metrics_skipped_records", "Records a rule selected but could not "
                                      "count: value missing, not a number, or negative for a counter.",
                                      labels=["metric"])
        for table in tables:
            rows = table.snapshot()
            yield _family(table, rows)
            name = table.spec.exposed
            series.add_metric([name], float(len(rows)))
            evicted.add_metric([name, "limit"], float(table.evicted))
            evicted.add_metric([name, "idle"], float(table.expired))
            skipped.add_metric([name], float(table.invalid))
        yield from (series, evicted, skipped)


def _family(table: SeriesTable, rows: list[tuple[tuple[str, ...], list[Any]]]) -> Metric:
    spec = table.spec
    labels = list(spec.labelnames)
    if spec.kind in (COUNTER, GAUGE):
        family = (CounterMetricFamily if spec.kind == COUNTER else GaugeMetricFamily)(
            spec.name, table.help, labels=labels)
        for key, (value,) in rows:
            family.add_metric(list(key), value)
        return family
    histogram = HistogramMetricFamily(spec.name, table.help, labels=labels)
    bounds = [floatToGoString(b) for b in spec.buckets] + ["+Inf"]
    for key, (counts, total) in rows:
        cumulative, running = [], 0
        for bound, count in zip(bounds, counts, strict=True):
            running += count
            cumulative.append((bound, float(running)))
        histogram.add_metric(list(key), cumulative, total)
    return histogram
