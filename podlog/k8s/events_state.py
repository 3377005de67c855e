"""Where the Events collector resumes: a resourceVersion, when it last saw the API, and what it emitted.

Kept in a local file (``state_file``: one collector, a restart resumes) and,
with leader election, in an annotation of the Lease (a new holder on another
node resumes where the last one stopped; it needs no permission beyond the
one Lease). Both hold only what the outputs acknowledged.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import orjson

from podlog.k8s.events import Seen

__all__ = ["ANNOTATION", "EventsState"]

log = logging.getLogger("podlog.k8s.events")
ANNOTATION = "podlog.io/events-state"
# Annotations of one object share 256 KiB, and the holder rewrites the Lease every retry period: ~50 bytes
# an entry, 500 entries keep each write near 25 KiB.
LEASE_SEEN_ENTRIES = 500


@dataclass
class EventsState:
    resource_version: str = ""
    synced_at: float = 0.0  # wall time the collector last had a working watch up to resource_version
    seen: Seen = field(default_factory=Seen)
    api: str = ""

    def dumps(self, seen_limit: int | None = None) -> bytes:
        return orjson.dumps({"resourceVersion": self.resource_version, "syncedAt": round(self.synced_at, 3),
                             "api": self.api, "seen": self.seen.dump(seen_limit)})

    @classmethod
    def loads(cls, raw: bytes | str, max_entries: int, max_age: float) -> EventsState:
        data: Any = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls(str(data.get("resourceVersion") or ""), float(data.get("syncedAt") or 0.0),
                   Seen.load(data.get("seen"), max_entries, max_age), str(data.get("api") or ""))

    # -- the state file --------------------------------------------------------------------------

    @classmethod
    def read_file(cls, path: str, max_entries: int, max_age: float) -> EventsState | None:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        try:
            return cls.loads(raw, max_entries, max_age)
        except (ValueError, TypeError) as exc:
            log.warning("events state file %s is unreadable (%s): listing events again; already shipped ones "
                        "may be shipped twice", path, exc)
            return None

    def write_file(self, path: str) -> None:
        """Atomically (temp file, fsync, rename): a kill leaves the old or the new state, never a mix."""
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".events-state-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.dumps())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # -- the Lease annotation --------------------------------------------------------------------

    def annotation(self) -> dict[str, str]:
        return {ANNOTATION: self.dumps(LEASE_SEEN_ENTRIES).decode()}

    @classmethod
    def from_annotations(cls, annotations: dict[str, str], max_entries: int, max_age: float) -> EventsState | None:
        raw = annotations.get(ANNOTATION)
        if not raw:
            return None
        try:
            return cls.loads(raw, max_entries, max_age)
        except (ValueError, TypeError) as exc:
            log.warning("lease annotation %s is unreadable (%s): listing events again", ANNOTATION, exc)
            return None
