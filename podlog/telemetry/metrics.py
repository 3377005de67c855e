"""The agent's own metrics (prometheus_client), one registry per engine so tests stay isolated.

Event counters are bumped where things happen; state that already lives in
objects (per-file lag, bytes read, buffer use, retry state, the loss ledger)
is read at scrape time by ``StateCollector``, so it can never drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["AgentMetrics", "StateCollector"]


class AgentMetrics:
    """Names follow ``podlog_<area>_<noun>_<unit|total>``; labels are bounded (plugin names, statuses)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.input_records = Counter("podlog_input_records", "Records read by an input.", ["input"], registry=r)
        self.output_records = Counter(
            "podlog_output_records", "Records by final outcome at an output (delivered; dead_lettered: in the "
            "dead-letter file; dropped: given up on purpose, e.g. buffer overflow).", ["output", "status"],
            registry=r)
        self.output_retries = Counter("podlog_output_retries", "Chunk writes that will be retried.", ["output"],
                                      registry=r)
        self.output_retried_records = Counter("podlog_output_retried_records",
                                              "Records in chunk writes that will be retried.", ["output"],
                                              registry=r)
        self.output_errors = Counter("podlog_output_errors", "Failed chunk writes by kind.", ["output", "kind"],
                                     registry=r)
        self.unmatched = Counter("podlog_router_unmatched_records", "Records no output matched (dropped, counted).",
                                 ["tag_prefix"], registry=r)
        self.filtered = Counter("podlog_filter_dropped_records", "Records a filter dropped on purpose.", ["filter"],
                                registry=r)
        self.throttled = Counter("podlog_filter_throttled_records", "Records a throttle filter dropped, by group "
                                 "(past 1,000 groups per filter: '(other)').", ["filter", "group"], registry=r)
        self.buffer_bytes = Gauge("podlog_buffer_bytes", "Bytes held in an output's buffer.", ["output"], registry=r)
        self.buffer_chunks = Gauge("podlog_buffer_chunks", "Chunks held in an output's buffer.", ["output"],
                                   registry=r)
        self.buffer_blocked = Gauge("podlog_buffer_blocked", "1 while an output's full buffer pauses inputs.",
                                    ["output"], registry=r)
        self.buffer_pauses = Counter("podlog_buffer_pauses", "Times a full (or unwritable) buffer paused inputs.",
                                     ["output"], registry=r)


class StateCollector(Collector):
    """Reads live state at scrape time from a ``state()`` callable returning the engine's status dict."""

    def __init__(self, state: Callable[[], dict[str, Any]]) -> None:
        self._state = state

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: families are built per scrape

    def collect(self) -> Iterator[Metric]:
        s = self._state()
        yield from _inputs(s.get("inputs", []))
        yield from _outputs(s.get("outputs", []))
        yield from _ledger(s.get("ledger", {}))
        up = GaugeMetricFamily("podlog_up", "1 while the agent's main loop is alive.")
        up.add_metric([], 1.0 if s.get("alive") else 0.0)
        yield up


def _inputs(inputs: list[dict[str, Any]]) -> Iterator[Metric]:
    read = CounterMetricFamily("podlog_input_bytes", "Bytes read by an input.", labels=["input"])
    lag = GaugeMetricFamily("podlog_input_file_lag_bytes", "Bytes of a followed file not yet acknowledged.",
                            labels=["input", "path"])
    waiting = GaugeMetricFamily("podlog_input_files_waiting", "Matched files not followed now: no file "
                                "descriptor left (fds, followed in turns) or not readable (unreadable, retried).",
                                labels=["input", "reason"])
    for i in inputs:
        read.add_metric([i["name"]], float(i.get("bytes", 0)))
        for reason, n in i.get("files_waiting", {}).items():
            waiting.add_metric([i["name"], reason], float(n))
        for path, n in i.get("lag", {}).items():
            lag.add_metric([i["name"], path], float(n))
    yield read
    yield lag
    yield waiting
    yield from _push_inputs(inputs)


def _push_inputs(inputs: list[dict[str, Any]]) -> Iterator[Metric]:
    """Connections and refused clients/frames of the push inputs (forward, http, syslog)."""
    conns = GaugeMetricFamily("podlog_input_connections", "Connections a push input holds.", labels=["input"])
    events = CounterMetricFamily("podlog_input_refused", "Clients, frames and datagrams a push input refused or "
                                 "closed (bad_frame, bad_request, idle_closed, connection_refused, too_large, "
                                 "udp_dropped, ack_timeout, ...).", labels=["input", "reason"])
    for i in inputs:
        if "connections" in i:
            conns.add_metric([i["name"]], float(i["connections"]))
        for reason, n in i.get("refused", {}).items():
            events.add_metric([i["name"], reason], float(n))
    yield conns
    yield events


def _outputs(outputs: list[dict[str, Any]]) -> Iterator[Metric]:
    limit = GaugeMetricFamily("podlog_buffer_limit_bytes", "An output buffer's total_limit_size.", labels=["output"])
    attempt = GaugeMetricFamily("podlog_output_retry_attempts", "Attempts so far of the chunk being retried "
                                "(0: not retrying).", labels=["output"])
    wait = GaugeMetricFamily("podlog_output_retry_next_seconds", "Seconds until the next retry (0: none).",
                             labels=["output"])
    errors = CounterMetricFamily("podlog_buffer_write_errors", "File buffer writes that failed (disk full, I/O) "
                                 "and paused inputs.", labels=["output"])
    items = CounterMetricFamily("podlog_output_items", "Per-item outcomes an output reports (Elasticsearch bulk: "
                                "indexed, duplicate, retry_<error type>, rejected_<error type>).",
                                labels=["output", "outcome"])
    for o in outputs:
        limit.add_metric([o["name"]], float(o["buffer_limit"]))
        attempt.add_metric([o["name"]], float(o["retry_attempts"]))
        wait.add_metric([o["name"]], float(o["retry_next_seconds"]))
        errors.add_metric([o["name"]], float(o.get("buffer_write_errors", 0)))
        for outcome, n in sorted(o.get("items", {}).items()):
            items.add_metric([o["name"], outcome], float(n))
    yield from (limit, attempt, wait, errors, items)


def _ledger(ledger: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    read = CounterMetricFamily("podlog_source_read_records", "Loss ledger: records read from a source.",
                               labels=["source"])
    delivered = CounterMetricFamily("podlog_source_delivered_records", "Loss ledger: records of a source "
                                    "delivered.", labels=["source"])
    dropped = CounterMetricFamily("podlog_source_dropped_records", "Loss ledger: records of a source dropped on "
                                  "purpose, by reason.", labels=["source", "reason"])
    buffered = GaugeMetricFamily("podlog_source_buffered_records", "Loss ledger: records of a source read but "
                                 "not yet delivered or dropped (read = delivered + dropped + buffered).",
                                 labels=["source"])
    for source, row in ledger.items():
        read.add_metric([source], float(row["read"]))
        delivered.add_metric([source], float(row["delivered"]))
        buffered.add_metric([source], float(row["buffered"]))
        for reason, n in row["dropped"].items():
            dropped.add_metric([source, reason], float(n))
    yield from (read, delivered, dropped, buffered)
