"""Kubernetes Events as log records: one shape for core/v1 and events.k8s.io/v1, and what was already emitted.

The two Event APIs serve the same objects under different field names
(``involvedObject``/``regarding``, ``message``/``note``, ``count``/
``deprecatedCount`` or ``series.count``, ``source``/``deprecatedSource``,
``reportingComponent``/``reportingController``...). ``normalise`` maps either
to one flat record, so dashboards and routing do not care which API was read.

An Event object is updated in place when the same thing happens again: its
count grows and its last timestamp moves. ``Seen`` remembers, per event uid,
the highest count already emitted (bounded in entries and in age), so a
re-list after a 410 or a new leader replaying the watch emits only what is
new, and an update is emitted exactly when the count changes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

__all__ = ["Seen", "event_key", "gap_record", "normalise", "record_id"]


def _first(*values: Any) -> Any:
    for v in values:
        if v not in (None, "", 0):
            return v
    return None


def event_key(obj: dict[str, Any]) -> tuple[str, int]:
    """(uid, count) of an Event object of either API: what identifies one occurrence."""
    meta = obj.get("metadata") or {}
    series = obj.get("series") or {}
    count = max(int(series.get("count") or 0), int(obj.get("count") or 0), int(obj.get("deprecatedCount") or 0), 1)
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"), count


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """One record for a core/v1 or events.k8s.io/v1 Event; ``@timestamp`` is its last occurrence."""
    meta = obj.get("metadata") or {}
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    series = obj.get("series") or {}
    _uid, count = event_key(obj)
    event_time = obj.get("eventTime")
    first = _first(obj.get("firstTimestamp"), obj.get("deprecatedFirstTimestamp"), event_time,
                   meta.get("creationTimestamp"))
    last = _first(series.get("lastObservedTime"), obj.get("lastTimestamp"), obj.get("deprecatedLastTimestamp"),
                  event_time, first)
    record: dict[str, Any] = {
        "@timestamp": last,
        "type": obj.get("type") or "Normal",
        "reason": obj.get("reason") or "",
        "message": _first(obj.get("message"), obj.get("note")) or "",
        "count": count,
        "first_timestamp": first,
        "last_timestamp": last,
        "involved_object": {
            "kind": involved.get("kind", ""), "name": involved.get("name", ""),
            "namespace": involved.get("namespace", ""), "uid": involved.get("uid", ""),
            "api_version": involved.get("apiVersion", ""), "field_path": involved.get("fieldPath", ""),
        },
        "reporting_component": _first(obj.get("reportingComponent"), obj.get("reportingController"),
                                      source.get("component")) or "",
        "reporting_instance": _first(obj.get("reportingInstance"), source.get("host")) or "",
        "event": {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
                  "resource_version": meta.get("resourceVersion", "")},
    }
    if obj.get("action"):
        record["action"] = obj["action"]
    # The same keys as log records, so one Kibana filter finds a pod's lines and its events.
    kube = {"namespace_name": involved.get("namespace") or meta.get("namespace", "")}
    if involved.get("kind") == "Pod":
        kube["pod_name"] = involved.get("name", "")
    record["kubernetes"] = kube
    return record


def gap_record(now: str, cause: str, since: str | None) -> dict[str, Any]:
    """The marker emitted when events may have been missed (a 410 re-list, or a downtime past the TTL)."""
    why = {"expired": "the watch position expired (410 Gone) and the events were listed again",
           "downtime": "the collector was away longer than the API server keeps events"}[cause]
    return {
        "@timestamp": now, "type": "Warning", "reason": "EventsMayBeMissing",
        "message": f"Kubernetes events may be missing: {why}; events created and deleted in the gap, and "
                   "intermediate counts of repeated events, were not seen.",
        "count": 1, "first_timestamp": since or now, "last_timestamp": now,
        "involved_object": {"kind": "", "name": "", "namespace": "", "uid": "", "api_version": "", "field_path": ""},
        "reporting_component": "podlog", "reporting_instance": "", "event": {"name": "", "namespace": "", "uid": "",
                                                                             "resource_version": ""},
        "kubernetes": {"namespace_name": ""}, "podlog": {"events_gap": {"cause": cause, "since": since, "until": now}},
    }


def record_id(uid: str, count: int) -> int:
    """A stable 63-bit number per occurrence: outputs that derive document ids (Elasticsearch) make a
    repeated delivery (a handover, a crash) overwrite-proof duplicates instead of new documents."""
    digest = hashlib.blake2b(f"{uid}:{count}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class Seen:
    """uid -> highest count emitted, the oldest forgotten first (by entries and by ``max_age`` seconds).

    Not thread-safe: one thread decides what is emitted.
    """

    def __init__(self, max_entries: int = 20000, max_age: float = 7200.0) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def is_new(self, uid: str, count: int) -> bool:
        entry = self._counts.get(uid)
        return entry is None or count > entry[0]

    def add(self, uid: str, count: int, now: float) -> None:
        entry = self._counts.get(uid)
        if entry is not None and entry[0] >= count:
            return
        self._counts[uid] = (count, now)
        self._counts.move_to_end(uid)
        self.trim(now)

    def trim(self, now: float) -> None:
        while self._counts:
            uid, (_count, at) = next(iter(self._counts.items()))
            if len(self._counts) <= self.max_entries and now - at <= self.max_age:
                break
            del self._counts[uid]

    def merge(self, other: Seen) -> None:
        for uid, (count, at) in other._counts.items():
            self.add(uid, count, at)

    def dump(self, limit: int | None = None) -> list[list[Any]]:
        """The most recent ``limit`` entries as [uid, count, time], oldest first (JSON-friendly)."""
        items = list(self._counts.items())
        if limit is not None:
            items = items[-limit:] if limit else []
        return [[uid, count, round(at, 3)] for uid, (count, at) in items]

    @classmethod
    def load(cls, rows: Any, max_entries: int, max_age: float) -> Seen:
        seen = cls(max_entries, max_age)
        for row in rows or []:
            try:
                uid, count, at = str(row[0]), int(row[1]), float(row[2])
            except (TypeError, ValueError, IndexError):
                continue
            seen._counts[uid] = (count, at)
            seen._counts.move_to_end(uid)
        return seen
