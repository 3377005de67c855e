"""The node's pods and the cluster's namespaces, kept current by list+watch, for log enrichment.

One agent runs per node, so it must not load the API server: pods are listed
once with ``fieldSelector=spec.nodeName=<node>`` and then watched from the
list's resourceVersion, with bookmarks so a re-watch resumes close to now.
A watch that ends or breaks resumes from the last resourceVersion seen; a
410 Gone (the version was compacted) means list again. Namespaces are
listed and watched the same way (one stream for the cluster), never fetched
per pod. Owners are resolved without API calls: a ReplicaSet named
``<deployment>-<pod-template-hash>`` belongs to that Deployment, a Job named
``<cronjob>-<scheduled minute>`` to that CronJob. So N pods created and
deleted on the node cost no request beyond the four long-lived ones.

A deleted pod stays known for ``keep_deleted`` seconds (its last lines are
read after it is gone), and a pod re-created under the same name (a
StatefulSet) is told apart from its predecessor by container id.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podlog.k8s.client import KubeClient
from podlog.k8s.errors import ApiError, Expired, Forbidden, Unauthorized, Unreachable

__all__ = ["ContainerInfo", "MetadataCache", "NamespaceInfo", "PodInfo", "owner_workload"]

log = logging.getLogger("podlog.k8s.metadata")

STARTING, SYNCED, UNAVAILABLE = "starting", "synced", "unavailable"


@dataclass(frozen=True)
class ContainerInfo:
    image: str = ""
    image_id: str = ""


@dataclass(frozen=True)
class PodInfo:
    """What log records need of a pod; replaced (never mutated) when the pod changes."""

    uid: str
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    node: str
    host_ip: str
    pod_ip: str
    containers: dict[str, ContainerInfo]
    container_ids: frozenset[str]  # every container id seen for this pod (restarts included)
    workload: tuple[str, str] | None
    deleted_at: float | None = None


@dataclass(frozen=True)
class NamespaceInfo:
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass
class _Stats:
    lists: int = 0
    watches: int = 0
    expired: int = 0
    errors: int = 0
    last_error: str = ""
    state_changes: list[str] = field(default_factory=list)


class MetadataCache:
    """List+watch of the node's pods and of namespaces; ``pod()``/``namespace()`` are lock-free reads."""

    def __init__(self, client: KubeClient, node_name: str = "", keep_deleted: float = 3600.0,
                 max_deleted: int = 1000, watch_timeout: int = 300, max_backoff: float = 30.0,
                 namespaces: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.node_name = node_name
        self.keep_deleted = keep_deleted
        self.max_deleted = max_deleted
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        self.watch_namespaces = namespaces
        self.clock = clock
        self.state = STARTING
        self.stats = _Stats()
        self._pods: dict[tuple[str, str], list[PodInfo]] = {}  # newest first; deleted ones kept a while
        self._namespaces: dict[str, NamespaceInfo] = {}
        self._namespaces_listed = not namespaces  # until the first namespace list, a pod's namespace may lag
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._purged_at = clock()
        self.users = 0  # filters sharing this cache

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        params = {"fieldSelector": f"spec.nodeName={self.node_name}"} if self.node_name else {}
        jobs: list[tuple[str, str, dict[str, str], Callable[[Iterable[dict[str, Any]]], None],
                         Callable[[str, dict[str, Any]], object]]]
        jobs = [("pods", "/api/v1/pods", params, self._replace_pods, self._apply_pod)]
        if self.watch_namespaces:
            jobs.append(("namespaces", "/api/v1/namespaces", {}, self._replace_namespaces, self._apply_namespace))
        for name, path, query, replace, apply in jobs:
            t = threading.Thread(target=self._reflect, args=(name, path, query, replace, apply),
                                 name=f"k8s-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self.client.close()  # ends open watch streams
        with self._changed:
            self._changed.notify_all()
        for t in self._threads:
            t.join(5)

    # -- reads -----------------------------------------------------------------------------------

    def pod(self, namespace: str, name: str, container_id: str = "") -> PodInfo | None:
        """The pod a log file belongs to: the one that ran ``container_id`` if known, else the newest."""
        entries = self._pods.get((namespace, name))
        if not entries:
            return None
        if container_id:
            for entry in entries:
                if container_id in entry.container_ids:
                    return entry
        return entries[0]

    def namespace(self, name: str) -> NamespaceInfo | None:
        return self._namespaces.get(name)

    def wait_for_pod(self, namespace: str, name: str, container_id: str, timeout: float) -> PodInfo | None:
        """Wait (bounded) for a pod the watch has not delivered yet; None when it did not come."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.pod(namespace, name, container_id)
                if found is not None and self._namespace_known(namespace) and (
                        not container_id or container_id in found.container_ids or self.state != SYNCED):
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set() or self.state == UNAVAILABLE:
                    return found
                self._changed.wait(min(left, 0.25))

    def _namespace_known(self, name: str) -> bool:
        """Whether a pod's namespace labels can be read: its namespace is listed, or the first list is done.

        The pod and namespace lists run side by side; a line enriched between the two would miss its
        namespace labels for good, so the bounded wait covers the namespace list too.
        """
        return self._namespaces_listed or name in self._namespaces

    # -- the list+watch loop ---------------------------------------------------------------------

    def _reflect(self, what: str, path: str, params: dict[str, str],
                 replace: Callable[[Iterable[dict[str, Any]]], None],
                 apply: Callable[[str, dict[str, Any]], None]) -> None:
        rv = ""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not rv:
                    result = self.client.list(path, params)
                    self.stats.lists += 1
                    replace(result.items)
                    rv = result.resource_version
                    if what == "namespaces":
                        self._namespaces_listed = True
                        with self._changed:
                            self._changed.notify_all()
                    if what == "pods":
                        self._set_state(SYNCED)
                self.stats.watches += 1
                for kind, obj in self.client.watch(path, rv, params, timeout_seconds=self.watch_timeout):
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        apply(kind, obj)
                    if what == "pods" and self.state != SYNCED:
                        self._set_state(SYNCED)
                backoff = 0.5
            except Expired:
                self.stats.expired += 1
                log.info("kubernetes: %s resourceVersion %s expired (410 Gone); listing again", what, rv)
                rv = ""
            except (Unauthorized, Forbidden) as exc:
                self._failed(what, exc, hint=" (check the ServiceAccount token and RBAC: the agent needs get, "
                             "list and watch on pods and namespaces)")
                backoff = self._pause(max(backoff, 5.0))
            except ApiError as exc:
                self._failed(what, exc)
                backoff = self._pause(backoff)
            except Exception as exc:
                self._failed(what, ApiError(0, "Error", f"{exc.__class__.__name__}: {exc}"))
                backoff = self._pause(backoff)
            if what == "pods":
                self._purge()

    def _failed(self, what: str, exc: ApiError, hint: str = "") -> None:
        self.stats.errors += 1
        first = self.stats.last_error != str(exc)
        self.stats.last_error = str(exc)
        # A watch cut mid-stream is resumed at once from the last version: the cache stays good meanwhile.
        cut = isinstance(exc, Unreachable) and exc.message.startswith("watch of")
        if what == "pods" and not (cut and self.state == SYNCED):
            self._set_state(UNAVAILABLE)
        (log.warning if first and not cut else log.debug)("kubernetes: %s: %s%s", what, exc, hint)

    def _pause(self, seconds: float) -> float:
        self._stop.wait(seconds)
        return min(seconds * 2, self.max_backoff)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stats.state_changes.append(state)
            log.info("kubernetes metadata: %s", state)
            with self._changed:
                self._changed.notify_all()

    # -- pods ------------------------------------------------------------------------------------

    def _replace_pods(self, items: Iterable[dict[str, Any]]) -> None:
        """A full list: what is not in it any more was deleted while we were not watching."""
        now = self.clock()
        seen: set[str] = set()
        for obj in items:
            seen.add(self._apply_pod("ADDED", obj))
        with self._changed:
            for key, entries in list(self._pods.items()):
                marked = [e if e.deleted_at is not None or e.uid in seen else _deleted(e, now) for e in entries]
                self._pods[key] = marked

    def _apply_pod(self, kind: str, obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        uid = meta.get("uid", "")
        with self._changed:
            entries = self._pods.get(key, [])
            previous = next((e for e in entries if e.uid == uid), None)
            info = pod_info(obj, previous)
            if kind == "DELETED":
                info = _deleted(info, self.clock())
            others = [e for e in entries if e.uid != uid]
            live_first = [info, *others] if kind != "DELETED" else [*(e for e in others if e.deleted_at is None),
                                                                     info, *(e for e in others if e.deleted_at)]
            self._pods[key] = live_first[:4]
            self._changed.notify_all()
        if kind == "DELETED" and self.clock() - self._purged_at > 30:
            self._purge()
        return uid

    def _purge(self) -> None:
        """Deleted pods past keep_deleted, and the oldest beyond max_deleted, are forgotten."""
        now = self.clock()
        self._purged_at = now
        with self._changed:
            deleted = sorted((e.deleted_at, key, e.uid) for key, entries in self._pods.items()
                             for e in entries if e.deleted_at is not None)
            excess = max(0, len(deleted) - self.max_deleted)
            oldest = now - self.keep_deleted
            drop = {(key, uid) for i, (at, key, uid) in enumerate(deleted) if i < excess or at < oldest}
            for key in {key for key, _ in drop}:
                kept = [e for e in self._pods.get(key, []) if (key, e.uid) not in drop]
                if kept:
                    self._pods[key] = kept
                else:
                    self._pods.pop(key, None)

    # -- namespaces ------------------------------------------------------------------------------

    def _replace_namespaces(self, items: Iterable[dict[str, Any]]) -> None:
        fresh = {}
        for obj in items:
            meta = obj.get("metadata") or {}
            fresh[meta.get("name", "")] = _namespace_info(meta)
        self._namespaces = fresh

    def _apply_namespace(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if kind == "DELETED":
            return  # pods of a deleted namespace still log a while; it goes at the next re-list
        self._namespaces[meta.get("name", "")] = _namespace_info(meta)

    # -- state for /status -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        live = sum(1 for entries in list(self._pods.values()) for e in entries if e.deleted_at is None)
        return {"state": self.state, "pods": live, "namespaces": len(self._namespaces),
                "requests": self.client.requests, "lists": self.stats.lists, "expired": self.stats.expired,
                "errors": self.stats.errors}


def pod_info(obj: dict[str, Any], previous: PodInfo | None = None) -> PodInfo:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers: dict[str, ContainerInfo] = {}
    for section in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(section) or []:
            containers[c.get("name", "")] = ContainerInfo(c.get("image", ""))
    ids = set(previous.container_ids) if previous else set()
    for section in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(section) or []:
            name = cs.get("name", "")
            containers[name] = ContainerInfo(cs.get("image") or containers.get(name, ContainerInfo()).image,
                                             cs.get("imageID", ""))
            for cid in (cs.get("containerID"), ((cs.get("lastState") or {}).get("terminated") or {})
                        .get("containerID")):
                if cid:
                    ids.add(cid.rpartition("://")[2])
    return PodInfo(
        uid=meta.get("uid", ""), name=meta.get("name", ""), namespace=meta.get("namespace", ""),
        labels=dict(meta.get("labels") or {}), annotations=dict(meta.get("annotations") or {}),
        node=spec.get("nodeName", ""), host_ip=status.get("hostIP", ""), pod_ip=status.get("podIP", ""),
        containers=containers, container_ids=frozenset(ids), workload=owner_workload(meta))


_CRON_SUFFIX = re.compile(r"^(?P<cron>.+)-(?P<minute>[0-9]{8,10})$")


def owner_workload(meta: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the workload that owns a pod, following ReplicaSet and Job owners by name.

    The Deployment controller names a ReplicaSet ``<deployment>-<hash>`` and
    labels its pods ``pod-template-hash: <hash>``; the CronJob controller names
    a Job ``<cronjob>-<scheduled time in minutes since the epoch>``. The
    minute is checked against the pod's creation time, so a Job a person named
    ``backup-20240101`` stays a Job.
    """
    owners = meta.get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if not owner:
        return None
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    if kind == "ReplicaSet":
        h = (meta.get("labels") or {}).get("pod-template-hash", "")
        if h and name.endswith("-" + h):
            return ("Deployment", name[: -len(h) - 1])
    elif kind == "Job":
        m = _CRON_SUFFIX.match(name)
        created = _epoch(meta.get("creationTimestamp", ""))
        if m and created and abs(int(m["minute"]) * 60 - created) < 7 * 86400:
            return ("CronJob", m["cron"])
    return (kind, name)


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _deleted(info: PodInfo, now: float) -> PodInfo:
    return dataclasses.replace(info, deleted_at=now)


def _namespace_info(meta: dict[str, Any]) -> NamespaceInfo:
    return NamespaceInfo(meta.get("uid", ""), dict(meta.get("labels") or {}), dict(meta.get("annotations") or {}))
