"""The kubernetes_events input: the cluster's Events as log records, once per cluster, resumable.

A reader thread lists the Events once, then watches from the list's
resourceVersion (bookmarks on); a watch that ends or breaks resumes from the
last version seen, a 410 Gone lists again. An emitter thread turns what the
reader queued into batches: an Event is emitted when its (uid, count) is new,
so a count that grows is an update and a re-list emits nothing twice. Each
batch's ack moves the committed point (resourceVersion plus what was
emitted) in order; only that point is saved, to ``state_file`` and, with
leader election, to the Lease, so a restart or a new holder resumes after
what the outputs acknowledged. When events may have been missed (a 410, or
the collector away longer than the API server keeps events) one marker
record says so.

With ``leader_election`` every agent of a DaemonSet is a candidate for one
Lease and only its holder collects; see podlog/k8s/lease.py.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from podlog.batch import Ack, Batch
from podlog.config.options import Option
from podlog.inputs._base import Emit, Input, SampleError, Sampler
from podlog.k8s.events import Seen, event_key, gap_record, normalise, record_id
from podlog.k8s.options import ApiOptions, api_config

__all__ = ["KubernetesEventsInput"]

log = logging.getLogger("podlog.k8s.events")
BATCH = 500  # records per batch at most
SOURCE = "kubernetes_events"


@dataclass
class _Pending:
    """One emitted batch (or a position with nothing to emit) waiting for its ack."""

    rv: str | None
    synced_at: float
    keys: list[tuple[str, int]] = field(default_factory=list)
    done: bool = False


class _Committer:
    """Moves the committed state in emission order as acks arrive (from any thread)."""

    def __init__(self, seen: Seen, rv: str, synced_at: float, wall: Callable[[], float]) -> None:
        self.lock = threading.Lock()
        self.seen = seen
        self.rv = rv
        self.synced_at = synced_at
        self.wall = wall
        self.dirty = False
        self._pending: deque[_Pending] = deque()

    def track(self, pending: _Pending) -> None:
        with self.lock:
            self._pending.append(pending)

    def done(self, pending: _Pending) -> None:
        with self.lock:
            pending.done = True
            while self._pending and self._pending[0].done:
                p = self._pending.popleft()
                for uid, count in p.keys:
                    self.seen.add(uid, count, self.wall())
                if p.rv:
                    self.rv = p.rv
                self.synced_at = max(self.synced_at, p.synced_at)
                self.dirty = True

    @property
    def in_flight(self) -> int:
        return len(self._pending)


class KubernetesEventsInput(Input):
    """Lists and watches Events (core/v1 or events.k8s.io/v1), normalised to one record shape."""

    name = "kubernetes_events"

    class Options(Input.Options, ApiOptions):
        tag = Option("str", "kubernetes.events", doc="Tag of the event records.")
        api = Option("str", "events.k8s.io/v1", doc="Which Event API to read; both give the same records.",
                     choices=("events.k8s.io/v1", "v1"))
        namespace = Option("str", "", doc="Only this namespace's events (empty: the whole cluster).")
        field_selector = Option("str", "", doc="A field selector, e.g. type!=Normal (the API filters).")
        state_file = Option("str", "", doc="Where the acknowledged resume point is kept (resourceVersion and "
                            "the events already emitted). Empty: kept only in the Lease (leader_election), or "
                            "nowhere.")
        list_existing = Option("bool", True, doc="At the very first start (no saved state) emit the events "
                               "the API server still holds; false starts with new ones.")
        events_ttl = Option("duration", 3600.0, doc="How long the API server keeps events (kube-apiserver "
                            "--event-ttl). Away longer than this, events may be missed: a marker says so.")
        seen_size = Option("int", 20000, doc="Events remembered (uid and count) so a re-list or a new leader "
                           "emits nothing twice.")
        watch_timeout = Option("duration", 300.0, doc="Each watch asks the server to end after this long; the "
                               "next resumes where it ended.")
        page_size = Option("int", 500, doc="Events per page when listing (limit/continue).")
        checkpoint_interval = Option("duration", 1.0, doc="Save the acknowledged resume point this often.")
        leader_election = Option("bool", False, doc="Collect only while holding the Lease (run in every agent "
                                 "of a DaemonSet, or a Deployment during a rolling update).")
        lease_name = Option("str", "podlog-events", doc="The Lease (coordination.k8s.io/v1) to hold.")
        lease_namespace = Option("str", "", doc="Its namespace. Default: $POD_NAMESPACE, else the "
                                 "ServiceAccount's namespace.")
        lease_duration = Option("duration", 15.0, doc="How long a holder that stopped renewing keeps the Lease.")
        renew_deadline = Option("duration", 10.0, doc="A holder that could not renew for this long stops "
                                "collecting (must be below lease_duration).")
        retry_period = Option("duration", 2.0, doc="How often the holder renews and the others look.")
        identity = Option("str", "", doc="This candidate's name in the Lease. Default: $POD_NAME, else the "
                          "host name.")

        def validate(self, given: set[str]) -> None:
            super().validate(given)
            if self.leader_election and self.renew_deadline >= self.lease_duration:
                raise self.error("renew_deadline", "must be shorter than lease_duration")

    options: Options

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        # Injected clocks: tests drive lease timing instead of sleeping.
        self.clock: Callable[[], float] = context.get("clock", time.monotonic)
        self.wall: Callable[[], float] = context.get("wall", time.time)
        self._config: Any = context.get("api_config")
        self._emit: Emit | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._term: _Term | None = None
        self._lease: Any = None
        self._lease_client: Any = None
        self._committer: _Committer | None = None
        self._last_save = 0.0
        self.read_records = 0
        self.stats = {"lists": 0, "watches": 0, "expired": 0, "gaps": 0, "errors": 0, "duplicates": 0, "terms": 0}
        self.requests_done = 0  # API requests of finished terms (each term has its own client)

    # --- lifecycle -----------------------------------------------------------------------------

    def _api_config(self) -> Any:
        if self._config is None:
            self._config = api_config(self.options)
        return self._config

    def _client(self) -> Any:
        from podlog.k8s.client import KubeClient

        return KubeClient(self._api_config(), user_agent="podlog-events")

    def run(self, emit: Emit) -> None:
        self._emit = emit
        self._thread = threading.Thread(target=self._elect_loop, name="k8s-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop collecting; the Lease stays ours until ``commit`` saved the last acknowledged point."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._end_term()

    def commit(self) -> None:
        self._save(final=self._stop.is_set())

    @property
    def holding(self) -> bool:
        return self._term is not None

    @property
    def requests(self) -> int:
        """API requests sent so far (lists, watches, lease reads and writes)."""
        term = self._term.client.requests if self._term is not None else 0
        lease = self._lease_client.requests if self._lease_client is not None else 0
        return self.requests_done + term + lease

    def sampler(self, tag: str | None, path: str) -> Sampler | None:
        """Dry runs: each sample line an Event object (or a watch event) as the API server sends it."""
        if tag is not None and tag != self.options.tag:
            return None
        return _EventSampler(self.options.tag)

    # --- election and terms --------------------------------------------------------------------

    def _elect_loop(self) -> None:
        from podlog.k8s.config import ConfigError

        o = self.options
        try:
            self._api_config()
            if o.leader_election:
                self._setup_lease()
        except (ConfigError, OSError, ValueError) as exc:  # no API configuration at all: say so, collect nothing
            log.error("kubernetes_events: no Kubernetes API to read events from: %s", exc)
            return
        while not self._stop.is_set():
            if o.leader_election:
                state = self._committed_state()
                annotations = state.annotation() if state is not None and self._term is not None else None
                held = self._lease.try_acquire_or_renew(annotations)
                if held and self._term is None:
                    self._start_term(self._lease.annotations)
                elif not held and self._term is not None:
                    log.warning("kubernetes_events: lost the lease %s to %r; stopping collection",
                                o.lease_name, self._lease.holder)
                    self._end_term()
            elif self._term is None:
                self._start_term({})
            if self.clock() - self._last_save >= o.checkpoint_interval:
                self._save(final=False)
            self._stop.wait(min(o.retry_period if o.leader_election else o.checkpoint_interval, 1.0))

    def _setup_lease(self) -> None:
        from podlog.k8s.lease import Lease

        o = self.options
        namespace = o.lease_namespace or os.environ.get("POD_NAMESPACE") or self._api_config().namespace
        identity = o.identity or os.environ.get("POD_NAME") or socket.gethostname()
        self._lease_client = self._client()
        self._lease = Lease(self._lease_client, namespace, o.lease_name, identity, duration=o.lease_duration,
                            renew_deadline=o.renew_deadline, clock=self.clock, wall=self.wall)
        log.info("kubernetes_events: candidate %r for the lease %s/%s", identity, namespace, o.lease_name)

    def _start_term(self, annotations: dict[str, str]) -> None:
        from podlog.k8s.events_state import EventsState

        o = self.options
        max_age = 2 * o.events_ttl
        state = EventsState.from_annotations(annotations, o.seen_size, max_age) if annotations else None
        if state is None and o.state_file:
            state = EventsState.read_file(o.state_file, o.seen_size, max_age)
        fresh = state is None
        state = state or EventsState(api=o.api, seen=Seen(o.seen_size, max_age))
        if state.api and state.api != o.api:
            log.info("kubernetes_events: the saved resourceVersion is from %s, now reading %s: listing again",
                     state.api, o.api)
            state.resource_version = ""
        state.seen.trim(self.wall())
        emitted = Seen(o.seen_size, max_age)
        emitted.merge(state.seen)
        self._committer = _Committer(state.seen, state.resource_version, state.synced_at, self.wall)
        self.stats["terms"] += 1
        term = _Term(self, self._client(), self._committer, emitted, state.resource_version, state.synced_at, fresh)
        self._term = term
        term.start()

    def _end_term(self) -> None:
        term, self._term = self._term, None
        if term is not None:
            term.stop()
            self.requests_done += term.client.requests

    # --- saving --------------------------------------------------------------------------------

    def _committed_state(self) -> Any:
        from podlog.k8s.events_state import EventsState

        c = self._committer
        if c is None:
            return None
        with c.lock:
            seen = Seen(c.seen.max_entries, c.seen.max_age)
            seen.merge(c.seen)
            return EventsState(c.rv, c.synced_at, seen, self.options.api)

    def _save(self, final: bool) -> None:
        o = self.options
        self._last_save = self.clock()
        c = self._committer
        if c is None:
            return
        if not c.dirty and not final:
            return
        c.dirty = False  # before the snapshot: an ack landing meanwhile marks it again
        state = self._committed_state()
        if o.state_file:
            try:
                state.write_file(o.state_file)
            except OSError as exc:
                c.dirty = True
                log.warning("kubernetes_events: cannot write %s: %s", o.state_file, exc)
        if final and self._lease is not None:
            self._lease.release(state.annotation())  # the successor resumes from exactly here


class _Term:
    """One stretch of collecting: its own client (closed to end the watch), reader and emitter threads."""

    def __init__(self, owner: KubernetesEventsInput, client: Any, committer: _Committer, emitted: Seen, rv: str,
                 synced_at: float, fresh: bool) -> None:
        self.owner = owner
        self.o = owner.options
        self.client = client
        self.committer = committer
        self.emitted = emitted
        self.rv = rv
        self.synced_at = synced_at
        self.fresh = fresh
        self.queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=1000)
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._read_loop, name="k8s-events-read", daemon=True),
                        threading.Thread(target=self._emit_loop, name="k8s-events-emit", daemon=True)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopped.set()
        self.client.close()
        for t in self.threads:
            t.join(timeout=30)

    # --- reading (the API) ---------------------------------------------------------------------

    def _path(self) -> str:
        from podlog.k8s.client import resource_path

        return resource_path(self.o.api, "events", self.o.namespace)

    def _put(self, item: tuple[Any, ...]) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _read_loop(self) -> None:
        from podlog.k8s.errors import ApiError, Expired, Forbidden, Unauthorized, Unreachable

        owner, o = self.owner, self.o
        wall = owner.wall
        path = self._path()
        params = {"fieldSelector": o.field_selector} if o.field_selector else {}
        gap: str | None = None
        since: float | None = self.synced_at or None
        if self.rv and wall() - self.synced_at > o.events_ttl:
            gap, self.rv = "downtime", ""  # older than any event the server still holds: list again
        emit_list = not (self.fresh and not o.list_existing)
        backoff, failures = 0.5, 0
        while not self.stopped.is_set():
            try:
                if not self.rv:
                    owner.stats["lists"] += 1
                    result = self.client.list(path, params, limit=o.page_size)
                    now = wall()
                    if gap is not None and not self._put(("gap", gap, since, now)):
                        return
                    gap = None
                    if not self._put(("list", result.items, result.resource_version, now, emit_list)):
                        return
                    emit_list = True
                    self.rv = result.resource_version
                    backoff, failures = 0.5, 0
                owner.stats["watches"] += 1
                for kind, obj in self.client.watch(path, self.rv, params, timeout_seconds=int(o.watch_timeout)):
                    now = wall()
                    self.rv = str((obj.get("metadata") or {}).get("resourceVersion") or self.rv)
                    if not self._put(("event", kind, obj, self.rv, now)):
                        return
                    since = now
                    backoff, failures = 0.5, 0
                # the server ended the watch: we were in touch up to here
                since = wall()
                if not self._put(("position", self.rv, since)):
                    return
            except Expired:
                owner.stats["expired"] += 1
                log.info("kubernetes_events: resourceVersion %s expired (410): listing again", self.rv)
                gap, self.rv = gap or "expired", ""
            except ApiError as exc:
                if self.stopped.is_set():
                    return
                owner.stats["errors"] += 1
                failures += 1
                if failures == 1 and isinstance(exc, Unreachable):
                    log.info("kubernetes_events: %s; watching again from %s", exc, self.rv or "a new list")
                    continue  # a cut stream (a restart, a load balancer): resume at once
                level = logging.ERROR if isinstance(exc, (Unauthorized, Forbidden)) else logging.WARNING
                log.log(level, "kubernetes_events: %s; retrying in %.1fs", exc, backoff)
                if self.stopped.wait(backoff):
                    return
                backoff = min(backoff * 2, 30.0)
                if self.rv and since is not None and wall() - since > o.events_ttl:
                    gap, self.rv = gap or "downtime", ""

    # --- emitting (batches and acks) -----------------------------------------------------------

    def _emit_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                first = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            items = [first]
            while len(items) < BATCH:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._process(items)

    def _process(self, items: list[tuple[Any, ...]]) -> None:
        records: list[dict[str, Any]] = []
        ids: list[int] = []
        pending = _Pending(None, 0.0)
        for item in items:
            kind = item[0]
            if kind == "gap":
                _, cause, since, now = item
                self.owner.stats["gaps"] += 1
                log.warning("kubernetes_events: events may have been missed (%s); a marker record is emitted",
                            cause)
                records.append(gap_record(_rfc3339(now), cause, _rfc3339(since) if since else None))
                ids.append(record_id(f"gap:{now}", 0))
                continue
            if kind == "list":
                _, objs, rv, now, emit = item
                for obj in objs:
                    self._consider(obj, records, ids, pending, emit)
                    if len(records) >= BATCH:
                        self._flush(records, ids, pending)
                        records, ids, pending = [], [], _Pending(None, 0.0)
                pending.rv, pending.synced_at = rv, now
            elif kind == "event":
                _, etype, obj, rv, now = item
                if etype in ("ADDED", "MODIFIED"):
                    self._consider(obj, records, ids, pending, True)
                pending.rv, pending.synced_at = rv, now
            elif kind == "position":
                _, rv, now = item
                pending.rv, pending.synced_at = rv, now
        self._flush(records, ids, pending)

    def _consider(self, obj: dict[str, Any], records: list[dict[str, Any]], ids: list[int], pending: _Pending,
                  emit: bool) -> None:
        uid, count = event_key(obj)
        if not self.emitted.is_new(uid, count):
            self.owner.stats["duplicates"] += 1
            return
        self.emitted.add(uid, count, self.owner.wall())
        pending.keys.append((uid, count))
        if emit:
            records.append(normalise(obj))
            ids.append(record_id(uid, count))

    def _flush(self, records: list[dict[str, Any]], ids: list[int], pending: _Pending) -> None:
        committer = self.committer
        committer.track(pending)
        ack = Ack(lambda _a: committer.done(pending))
        if not records:
            ack.release()
            return
        self.owner.read_records += len(records)
        assert self.owner._emit is not None
        self.owner._emit(Batch(self.o.tag, records=records, ack=ack, origin=SOURCE, offsets=ids))


def _rfc3339(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


class _EventSampler(Sampler):
    about = "Events read by"
    _NOT_AN_EVENT = ("not a Kubernetes Event: give one JSON object a line, an Event (core/v1 or events.k8s.io/v1) "
                     "or a watch event, e.g. from kubectl get events -o json | jq -c '.items[]'")

    def decode(self, line: bytes) -> tuple[str, list[bytes]]:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("object"), dict) and "type" in obj:  # a watch event
            if obj["type"] not in ("ADDED", "MODIFIED"):
                return self.tag, []  # deletions and bookmarks make no record
            obj = obj["object"]
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or not (
                "involvedObject" in obj or "regarding" in obj):
            raise SampleError(self._NOT_AN_EVENT)
        return self.tag, [orjson.dumps(normalise(obj))]
