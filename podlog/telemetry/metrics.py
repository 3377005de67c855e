"""The agent's own metrics (prometheus_client), one registry per engine so tests stay isolated."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["AgentMetrics"]


class AgentMetrics:
    """Names follow ``podlog_<area>_<noun>_<unit|total>``; labels are bounded (plugin names, statuses)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.input_records = Counter("podlog_input_records", "Records read by an input.", ["input"], registry=r)
        self.input_bytes = Counter("podlog_input_bytes", "Bytes read by an input.", ["input"], registry=r)
        self.output_records = Counter(
            "podlog_output_records", "Records by final outcome at an output "
            "(delivered, rejected: dead-lettered, dropped: given up on purpose).", ["output", "status"], registry=r)
        self.output_retries = Counter("podlog_output_retries", "Chunk writes that will be retried.", ["output"],
                                      registry=r)
        self.output_errors = Counter("podlog_output_errors", "Failed chunk writes by kind.", ["output", "kind"],
                                     registry=r)
        self.unmatched = Counter("podlog_router_unmatched_records", "Records no output matched (dropped, counted).",
                                 ["tag_prefix"], registry=r)
        self.filtered = Counter("podlog_filter_dropped_records", "Records a filter dropped on purpose.", ["filter"],
                                registry=r)
        self.buffer_bytes = Gauge("podlog_buffer_bytes", "Bytes held in an output's buffer.", ["output"], registry=r)
        self.buffer_chunks = Gauge("podlog_buffer_chunks", "Chunks held in an output's buffer.", ["output"],
                                   registry=r)
        self.buffer_blocked = Gauge("podlog_buffer_blocked", "1 while an output's full buffer pauses inputs.",
                                    ["output"], registry=r)
