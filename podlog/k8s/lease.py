"""Leader election on a coordination.k8s.io/v1 Lease: one holder at a time, by optimistic concurrency.

Every candidate reads the Lease; the holder renews it (``renewTime``) every
retry period by a PUT carrying the ``resourceVersion`` it last saw, so of two
writers racing, the API server accepts one and answers 409 Conflict to the
other. A candidate takes over only when the Lease has not changed for
``leaseDurationSeconds`` as measured on its *own* clock since it first saw
that version (no clock comparison between machines), or when the holder
released it (``holderIdentity`` emptied). A holder that cannot renew for
``renew_deadline`` (shorter than the lease duration) stops acting as the
holder before anyone else may start. The clocks are injected, so tests drive
time instead of sleeping.

The Lease's annotations carry what the holder wants its successor to know
(the Events collector keeps its resume point there); they are written with
each renewal, so they need no permission beyond get/update on this one Lease.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from podlog.k8s.client import KubeClient, resource_path
from podlog.k8s.errors import ApiError, Conflict, NotFound

__all__ = ["Lease", "micro_time"]

log = logging.getLogger("podlog.k8s.lease")
API = "coordination.k8s.io/v1"


def micro_time(wall: float) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return dt.datetime.fromtimestamp(wall, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Lease:
    """One candidate's view of one Lease. Not thread-safe: one thread drives it."""

    def __init__(self, client: KubeClient, namespace: str, name: str, identity: str, duration: float = 15.0,
                 renew_deadline: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if renew_deadline >= duration:
            raise ValueError("renew_deadline must be shorter than the lease duration")
        self.client = client
        self.path = resource_path(API, "leases", namespace, name)
        self.collection = resource_path(API, "leases", namespace)
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_deadline = renew_deadline
        self.clock = clock
        self.wall = wall
        self.holding = False
        self.holder = ""  # who holds it, as last seen
        self.annotations: dict[str, str] = {}
        self.transitions = 0
        self._obj: dict[str, Any] | None = None  # the Lease as last read or written
        self._observed: tuple[str, str, str] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._last_error = ""

    def try_acquire_or_renew(self, annotations: dict[str, str] | None = None) -> bool:
        """One election round: renew if we hold it, take it if free or expired. True while we hold it."""
        try:
            if self.holding and self._obj is not None:
                try:
                    return self._write(self._obj, annotations)  # the usual case: one PUT, no GET
                except Conflict:
                    pass  # someone wrote it since: read and judge again
            obj = self._read()
            if obj is None:
                return self._create(annotations)
            return self._judge(obj, annotations)
        except ApiError as exc:
            if self.holding and self.clock() - self._renewed_at >= self.renew_deadline:
                log.warning("lease %s: not renewed for %.0fs (%s); stepping down", self.name, self.renew_deadline,
                            exc)
                self.holding = False
            elif not self.holding and str(exc) != self._last_error:
                log.warning("lease %s: %s", self.name, exc)  # once per distinct error, not every round
            self._last_error = str(exc)
            return self.holding

    def release(self, annotations: dict[str, str] | None = None) -> bool:
        """Give the Lease up (a successor may take it at once); ``annotations`` are written with it."""
        if not self.holding or self._obj is None:
            return False
        obj = copy.deepcopy(self._obj)
        spec = obj.setdefault("spec", {})
        spec.pop("holderIdentity", None)
        spec["leaseDurationSeconds"] = 1
        spec["renewTime"] = micro_time(self.wall())
        obj.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations or {})
        self.holding = False
        try:
            self._obj = self.client.replace(self.path, obj)
        except ApiError as exc:
            log.warning("lease %s: release failed (%s); it expires in %.0fs", self.name, exc, self.duration)
            return False
        log.info("lease %s released by %s", self.name, self.identity)
        return True

    # -- rounds ----------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any] | None:
        try:
            return self.client.get(self.path)
        except NotFound:
            return None

    def _create(self, annotations: dict[str, str] | None) -> bool:
        """No Lease yet: create it held by us (needs create on leases; the manifests ship the Lease instead)."""
        obj = {"apiVersion": API, "kind": "Lease",
               "metadata": {"name": self.name, "annotations": dict(annotations or {})}, "spec": {}}
        self._set_holder(obj, taking=True)
        try:
            self._obj = self.client.create(self.collection, obj)
        except Conflict:
            return False  # another candidate created it first
        self._won()
        return True

    def _judge(self, obj: dict[str, Any], annotations: dict[str, str] | None) -> bool:
        spec = obj.get("spec") or {}
        meta = obj.get("metadata") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""), str(meta.get("resourceVersion") or ""))
        now = self.clock()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        self._obj = obj
        self.holder = holder
        self.annotations = dict(meta.get("annotations") or {})
        if holder == self.identity:
            return self._write(obj, annotations)  # ours (a restart with the same pod name): renew
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        if holder and now - self._observed_at < duration:
            self.holding = False
            return False
        return self._write(obj, annotations)

    def _write(self, obj: dict[str, Any], annotations: dict[str, str] | None) -> bool:
        new = copy.deepcopy(obj)
        taking = str((new.get("spec") or {}).get("holderIdentity") or "") != self.identity
        self._set_holder(new, taking)
        if annotations:
            new.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
        try:
            self._obj = self.client.replace(self.path, new)
        except Conflict:
            if taking:
                self.holding = False  # another candidate won this round
                return False
            raise
        if taking:
            self._won()
        self._renewed_at = self.clock()
        meta = self._obj.get("metadata") or {}
        self.annotations = dict(meta.get("annotations") or {})
        spec = self._obj.get("spec") or {}
        self._observed = (self.identity, str(spec.get("renewTime") or ""), str(meta.get("resourceVersion") or ""))
        self._observed_at = self._renewed_at
        self.holder = self.identity
        self.holding = True
        return True

    def _set_holder(self, obj: dict[str, Any], taking: bool) -> None:
        spec = obj.setdefault("spec", {})
        now = micro_time(self.wall())
        if taking:
            if spec.get("holderIdentity"):
                spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = now
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = max(1, round(self.duration))
        spec["renewTime"] = now

    def _won(self) -> None:
        self._renewed_at = self.clock()
        self.holding = True
        self.holder = self.identity
        assert self._obj is not None
        self.transitions = int((self._obj.get("spec") or {}).get("leaseTransitions") or 0)
        self.annotations = dict((self._obj.get("metadata") or {}).get("annotations") or {})
        log.info("lease %s acquired by %s", self.name, self.identity)
