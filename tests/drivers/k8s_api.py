"""A Kubernetes API server *protocol double* for podlog's tests.

THIS IS NOT A KUBERNETES API SERVER. No API server (nor etcd) can run where
podlog is tested, so this module serves, over real HTTP/1.1 on 127.0.0.1, the
part of the documented REST API a log agent meets, and nothing else. It is
built from the Kubernetes API reference and the "API concepts" page
(kubernetes.io/docs/reference/using-api/api-concepts/): "Efficient detection
of changes" (watch from a resourceVersion, newline-delimited JSON events
ADDED / MODIFIED / DELETED / BOOKMARK / ERROR in a chunked response),
"Watch bookmarks" (``allowWatchBookmarks``), "Retrieving large results sets
in chunks" (``limit`` / ``continue``, ``remainingItemCount``), "410 Gone
responses" (``Status`` with ``reason: Expired``, as an HTTP answer for an
expired continue token and as an ERROR event for a watch from a compacted
resourceVersion), "Resource versions" (opaque strings, list metadata), the
Status object of failures (401 Unauthorized, 403 Forbidden, 404 NotFound,
409 AlreadyExists / Conflict, 422 Invalid) and the field selectors each
resource supports. A test that passes against it shows podlog keeps to the
documented API, not that a given cluster behaves the same.

Generic over resources: pods, namespaces, core/v1 events and events.k8s.io/v1
events (one store, converted as the real server does), coordination.k8s.io/v1
leases, and apps/batch workloads; ``add_resource`` registers more.

Behaviour kept as the API documents it:
- list: ``resourceVersion`` unset/"0" = current state; ``limit``/``continue``
  pages one snapshot; a continue token older than the compaction point is a
  410 Expired with a fresh token; list items carry no kind/apiVersion.
- watch: no resourceVersion (or "0") starts with synthetic ADDED events for
  the current objects; a resourceVersion replays what changed after it; one
  older than the compaction point gets an ERROR event (code 410, Expired).
  An object that stops (starts) matching the selector is DELETED (ADDED) for
  that watcher. ``timeoutSeconds`` ends the stream cleanly.
- fieldSelector (``=``, ``==``, ``!=``, comma = and) on the fields the real
  server indexes (``spec.nodeName`` on pods, ``involvedObject.*`` on events...);
  other fields are a 400 "field label not supported". labelSelector: ``=``,
  ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``.
- bearer tokens: missing or unknown is 401, a token without the verb on the
  resource is 403 with the server's wording.
- create (POST) 409 AlreadyExists, replace (PUT) 409 Conflict on a stale
  ``metadata.resourceVersion``, delete returns the object.

TLS: pass an ``ssl.SSLContext`` (server side; with ``verify_mode`` CERT_REQUIRED
for client certificates) and the double serves HTTPS only.

Test hooks: ``put``/``remove`` (change objects without HTTP, as other
clients would), ``compact()`` (forget history: older resourceVersions get
410), ``break_watches()`` (cut every open watch mid-chunk), ``requests`` and
``count()`` (a request counter), ``watchers`` (open watch streams).

Not implemented: PATCH, subresources (status, log, eviction), discovery
beyond ``/version``, ``resourceVersionMatch``, ``sendInitialEvents``,
protobuf/CBOR, admission, garbage collection, graceful deletion (delete
is immediate), defaulting and validation beyond a name.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["K8sApiDouble", "RequestRecord", "Resource"]

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                 "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                 "reason", "reportingComponent", "source", "type")


@dataclass(frozen=True)
class Resource:
    api_version: str
    plural: str
    kind: str
    namespaced: bool = True
    fields: tuple[str, ...] = ()
    store: str = ""  # resources that share a store (the two Event APIs)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


_DEFAULT_RESOURCES = (
    Resource("v1", "pods", "Pod", True, ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                         "spec.serviceAccountName", "status.phase", "status.podIP",
                                         "status.nominatedNodeName")),
    Resource("v1", "namespaces", "Namespace", False, ("status.phase",)),
    Resource("v1", "nodes", "Node", False, ("spec.unschedulable",)),
    Resource("v1", "events", "Event", True, _EVENT_FIELDS, store="events"),
    Resource("events.k8s.io/v1", "events", "Event", True,
             (*(f.replace("involvedObject.", "regarding.") for f in _EVENT_FIELDS if f.startswith("inv")),
              "reason", "reportingController", "type"), store="events"),
    Resource("coordination.k8s.io/v1", "leases", "Lease"),
    Resource("apps/v1", "replicasets", "ReplicaSet"),
    Resource("apps/v1", "deployments", "Deployment"),
    Resource("apps/v1", "statefulsets", "StatefulSet"),
    Resource("apps/v1", "daemonsets", "DaemonSet"),
    Resource("batch/v1", "jobs", "Job"),
    Resource("batch/v1", "cronjobs", "CronJob"),
)


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    verb: str = ""  # get, list, watch, create, update, delete
    resource: str = ""  # plural, e.g. "pods"
    status: int = 0


@dataclass
class _Change:
    rv: int
    store: str
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


class _HttpError(Exception):
    def __init__(self, code: int, reason: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.extra = code, reason, message, extra

    def status(self) -> dict[str, Any]:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        body.update(self.extra)
        return body


class K8sApiDouble:
    """In-memory API server on a loopback port; use as a context manager."""

    def __init__(self, tokens: dict[str, Any] | None = None, bookmark_interval: float = 60.0,
                 tls: ssl.SSLContext | None = None) -> None:
        # token -> None (everything allowed) or a set of (verb, plural) pairs, "*" as a wildcard.
        self.tokens: dict[str, set[tuple[str, str]] | None] = (
            {"test-token": None} if tokens is None else dict(tokens))
        self.bookmark_interval = bookmark_interval
        self.requests: list[RequestRecord] = []
        self.resources: dict[tuple[str, str], Resource] = {}
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._log: list[_Change] = []
        self._rv = 100
        self._compacted = 0
        self._snapshots: dict[int, list[dict[str, Any]]] = {}
        self._cond = threading.Condition()
        self._break_gen = 0
        self._stopping = False
        self.watchers = 0
        for res in _DEFAULT_RESOURCES:
            self.add_resource(res)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._scheme = "https" if tls is not None else "http"
        if tls is not None:  # the API server speaks TLS only; the handshake runs when a connection is accepted
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="k8s-api-double", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> K8sApiDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> K8sApiDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test hooks ------------------------------------------------------------------------------

    def add_resource(self, res: Resource) -> None:
        self.resources[(res.api_version, res.plural)] = res
        self._objects.setdefault(res.store or f"{res.api_version}/{res.plural}", {})

    def put(self, api_version: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or update an object as another client would (no auth, no request counted)."""
        res = self.resources[(api_version, plural)]
        obj = _from_api(res, copy.deepcopy(obj))
        meta = obj.setdefault("metadata", {})
        meta.pop("resourceVersion", None)
        with self._cond:
            key = (meta.get("namespace", "") if res.namespaced else "", meta["name"])
            exists = key in self._objects[self._store(res)]
            return self._write(res, obj, "MODIFIED" if exists else "ADDED")

    def remove(self, api_version: str, plural: str, name: str, namespace: str = "") -> dict[str, Any]:
        res = self.resources[(api_version, plural)]
        with self._cond:
            return self._delete(res, namespace if res.namespaced else "", name)

    def get(self, api_version: str, plural: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        res = self.resources[(api_version, plural)]
        with self._cond:
            obj = self._objects[self._store(res)].get((namespace if res.namespaced else "", name))
            return _to_api(res, obj) if obj else None

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def compact(self) -> None:
        """Forget all history: a watch or continue token from an older resourceVersion now gets 410."""
        with self._cond:
            self._rv += 1  # etcd compaction is itself a revision
            self._compacted = self._rv
            self._log.clear()
            self._snapshots.clear()

    def break_watches(self) -> None:
        """Cut every open watch stream in the middle of a chunk (a load balancer or apiserver restart)."""
        with self._cond:
            self._break_gen += 1
            self._cond.notify_all()

    def count(self, verb: str | None = None, resource: str | None = None) -> int:
        return sum(1 for r in list(self.requests)
                   if (verb is None or r.verb == verb) and (resource is None or r.resource == resource))

    # -- store (callers hold self._cond) ---------------------------------------------------------

    def _store(self, res: Resource) -> str:
        return res.store or f"{res.api_version}/{res.plural}"

    def _write(self, res: Resource, obj: dict[str, Any], kind: str) -> dict[str, Any]:
        meta = obj["metadata"]
        store = self._objects[self._store(res)]
        key = (meta.get("namespace", "") if res.namespaced else "", meta["name"])
        old = store.get(key)
        if old is not None:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        else:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        if not res.namespaced:
            meta.pop("namespace", None)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        store[key] = obj
        self._log.append(_Change(self._rv, self._store(res), kind, copy.deepcopy(obj), old))
        self._cond.notify_all()
        return _to_api(res, obj)

    def _delete(self, res: Resource, namespace: str, name: str) -> dict[str, Any]:
        obj = self._objects[self._store(res)].pop((namespace, name), None)
        if obj is None:
            raise _not_found(res, name)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._log.append(_Change(self._rv, self._store(res), "DELETED", copy.deepcopy(obj)))
        self._cond.notify_all()
        return _to_api(res, obj)

    def _select(self, res: Resource, namespace: str, query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
        fields = _field_selector(res, query.get("fieldSelector", ""))
        labels = _label_selector(query.get("labelSelector", ""))

        def match(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            if namespace and meta.get("namespace") != namespace:
                return False
            lab = meta.get("labels") or {}
            return all(test(_dig(obj, path)) for path, test in fields) and all(test(lab) for test in labels)

        return match

    # -- verbs -----------------------------------------------------------------------------------

    def list(self, res: Resource, namespace: str, query: dict[str, str]) -> dict[str, Any]:
        match = self._select(res, namespace, query)
        limit = int(query.get("limit") or 0)
        with self._cond:
            if query.get("continue"):
                rv, start = _decode_continue(query["continue"])
                snapshot = self._snapshots.get(rv)
                if snapshot is None or rv < self._compacted:
                    fresh = _encode_continue(self._rv, start) if start else ""
                    raise _HttpError(410, "Expired", "The provided continue parameter is too old to display a "
                                     "consistent list result. You can start a new list without the continue "
                                     "parameter, or use the continue token in this response to retrieve the "
                                     "remainder of the results. Continuing with the provided token results in an "
                                     "inconsistent list - objects that were created, modified, or deleted between "
                                     "the time the first chunk was returned and now may show up in the list.",
                                     metadata={"continue": fresh} if fresh else {})
            else:
                want = query.get("resourceVersion", "")
                if want not in ("", "0") and want.isdigit() and int(want) > self._rv:
                    raise _HttpError(504, "Timeout", f"Too large resource version: {want}, current: {self._rv}",
                                     details={"causes": [{"reason": "ResourceVersionTooLarge"}],
                                              "retryAfterSeconds": 1})
                rv, start = self._rv, ""
                snapshot = sorted((copy.deepcopy(o) for o in self._objects[self._store(res)].values()),
                                  key=_sort_key)
                if limit:
                    self._snapshots[rv] = snapshot
        items = [o for o in snapshot if _sort_key(o) > start and match(o)] if start else \
            [o for o in snapshot if match(o)]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            items = items[:limit]
            meta["continue"] = _encode_continue(rv, _sort_key(items[-1]))
            remaining = [o for o in snapshot if _sort_key(o) > _sort_key(items[-1]) and match(o)]
            meta["remainingItemCount"] = len(remaining)
        out = [_to_api(res, o, typed=False) for o in items]
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": out}

    def watch(self, res: Resource, namespace: str, query: dict[str, str], send: Callable[[bytes], None],
              cut: Callable[[], None]) -> None:
        """Stream events until timeoutSeconds, stop, or break_watches (then cut mid-chunk)."""
        match = self._select(res, namespace, query)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        want = query.get("resourceVersion", "")
        store = self._store(res)
        with self._cond:
            gen = self._break_gen
            if want not in ("", "0") and (not want.isdigit() or int(want) < self._compacted):
                status = _HttpError(410, "Expired", f"too old resource version: {want} ({self._compacted})")
                send(_line({"type": "ERROR", "object": status.status()}))
                return
            position = int(want) if want not in ("", "0") else self._rv
            initial = [] if want not in ("", "0") else sorted(
                (copy.deepcopy(o) for o in self._objects[store].values() if match(o)), key=_sort_key)
            self.watchers += 1
        try:
            for obj in initial:
                send(_line({"type": "ADDED", "object": _to_api(res, obj)}))
            last_bookmark = time.monotonic()
            while True:
                with self._cond:
                    while (not self._stopping and gen == self._break_gen and time.monotonic() < deadline
                           and (not self._log or self._log[-1].rv <= position)
                           and not (bookmarks and time.monotonic() - last_bookmark >= self.bookmark_interval)):
                        self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                    if gen != self._break_gen:
                        break
                    if self._stopping or time.monotonic() >= deadline:
                        return
                    changes = [c for c in self._log if c.rv > position and c.store == store]
                    position = self._rv
                for change in changes:
                    event = _for_watcher(change, match)
                    if event:
                        send(_line({"type": event, "object": _to_api(res, change.obj)}))
                if bookmarks and time.monotonic() - last_bookmark >= self.bookmark_interval:
                    last_bookmark = time.monotonic()
                    send(_line({"type": "BOOKMARK", "object": {
                        "kind": res.kind, "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(position)}}}))
        finally:
            with self._cond:
                self.watchers -= 1
        cut()

    def create(self, res: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = _from_api(res, body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise _HttpError(422, "Invalid", f'{res.kind} "" is invalid: metadata.name: Required value: name or '
                             "generateName is required")
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise _HttpError(400, "BadRequest", "the namespace of the provided object does not match the "
                                 "namespace sent on the request")
            meta["namespace"] = namespace
        meta.pop("resourceVersion", None)
        with self._cond:
            if (namespace if res.namespaced else "", meta["name"]) in self._objects[self._store(res)]:
                raise _HttpError(409, "AlreadyExists", f'{_qualified(res)} "{meta["name"]}" already exists',
                                 details=_details(res, meta["name"]))
            return self._write(res, obj, "ADDED")

    def replace(self, res: Resource, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = _from_api(res, body)
        meta = obj.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise _HttpError(400, "BadRequest", "the name of the object does not match the name on the URL")
        meta["name"] = name
        if res.namespaced:
            meta["namespace"] = namespace
        with self._cond:
            current = self._objects[self._store(res)].get((namespace, name))
            if current is None:
                raise _not_found(res, name)
            sent = meta.get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                raise _HttpError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(res)} "{name}": '
                                 "the object has been modified; please apply your changes to the latest version "
                                 "and try again", details=_details(res, name))
            return self._write(res, obj, "MODIFIED")

    def read(self, res: Resource, namespace: str, name: str) -> dict[str, Any]:
        with self._cond:
            obj = self._objects[self._store(res)].get((namespace, name))
            if obj is None:
                raise _not_found(res, name)
            return _to_api(res, copy.deepcopy(obj))

    def authorize(self, header: str, verb: str, res: Resource, namespace: str) -> None:
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if token not in self.tokens:
            raise _HttpError(401, "Unauthorized", "Unauthorized")
        grants = self.tokens[token]
        if grants is None or {(verb, res.plural), ("*", res.plural), (verb, "*"), ("*", "*")} & grants:
            return
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        raise _HttpError(403, "Forbidden", f'{_qualified(res)} is forbidden: User "system:serviceaccount:podlog:'
                         f'{token[:12]}" cannot {verb} resource "{res.plural}" in API group "{res.group}" {scope}',
                         details={"group": res.group, "kind": res.plural})


# -- HTTP --------------------------------------------------------------------------------------------


def _make_handler(api: K8sApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # TCP_NODELAY, as Go's net/http (the API server) sets it

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            record = RequestRecord(method, parts.path, query)
            api.requests.append(record)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                if parts.path == "/version":
                    self._reply(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-podlog-double"})
                    return
                res, namespace, name = _route(api, parts.path)
                record.resource = res.plural
                record.verb = _verb(method, name, query)
                api.authorize(self.headers.get("Authorization", ""), record.verb, res, namespace)
                body = json.loads(raw) if raw else {}
                if record.verb == "watch":
                    self._watch(res, namespace, query)
                    record.status = 200
                    return
                if record.verb == "list":
                    answer, code = api.list(res, namespace, query), 200
                elif record.verb == "get":
                    answer, code = api.read(res, namespace, name), 200
                elif record.verb == "create":
                    answer, code = api.create(res, namespace, body), 201
                elif record.verb == "update":
                    answer, code = api.replace(res, namespace, name, body), 200
                else:
                    with api._cond:
                        answer, code = api._delete(res, namespace, name), 200
            except _HttpError as err:
                record.status = err.code
                self._reply(err.code, err.status())
                return
            except (ValueError, KeyError) as exc:
                record.status = 400
                self._reply(400, _HttpError(400, "BadRequest", str(exc)).status())
                return
            record.status = code
            self._reply(code, answer)

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _watch(self, res: Resource, namespace: str, query: dict[str, str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()

            def send(data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            cut_done = False

            def cut() -> None:
                nonlocal cut_done
                cut_done = True
                self.wfile.write(b'64\r\n{"type":"MODIFIED","obj')  # a chunk promised 100 bytes, sent 24
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            try:
                api.watch(res, namespace, query, send, cut)
                if not cut_done:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def _route(api: K8sApiDouble, path: str) -> tuple[Resource, str, str]:
    segs = [s for s in path.split("/") if s]
    if len(segs) >= 2 and segs[0] == "api":
        version, rest = segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        version, rest = f"{segs[1]}/{segs[2]}", segs[3:]
    else:
        raise _HttpError(404, "NotFound", "the server could not find the requested resource")
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    res = api.resources.get((version, rest[0])) if rest else None
    if res is None or len(rest) > 2 or (namespace and not res.namespaced):
        raise _HttpError(404, "NotFound", "the server could not find the requested resource")
    return res, namespace, rest[1] if len(rest) == 2 else ""


def _verb(method: str, name: str, query: dict[str, str]) -> str:
    if method == "GET":
        if name:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    verbs = {"POST": "create", "PUT": "update", "DELETE": "delete"}
    if method in ("PUT", "DELETE") and not name:
        raise _HttpError(405, "MethodNotAllowed", f"{method} on a collection is not supported by this double")
    return verbs[method]


# -- selectors, conversions, helpers -------------------------------------------------------------------


def _field_selector(res: Resource, text: str) -> list[tuple[str, Callable[[Any], bool]]]:
    tests: list[tuple[str, Callable[[Any], bool]]] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        negate = "!=" in term
        key, _, value = term.partition("!=" if negate else ("==" if "==" in term else "="))
        if key not in _COMMON_FIELDS + res.fields:
            raise _HttpError(400, "BadRequest", f'"{key}" is not a known field selector: only '
                             f'"{", ".join(_COMMON_FIELDS + res.fields)}"')
        path = _FIELD_ALIASES.get(key, key)
        tests.append((path, (lambda v, want=value: str(v or "") != want) if negate
                      else (lambda v, want=value: str(v or "") == want)))
    return tests


# events.k8s.io names that the one event store holds under their core/v1 names
_FIELD_ALIASES = {f"regarding.{k}": f"involvedObject.{k}" for k in
                  ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
_FIELD_ALIASES.update({"reportingController": "reportingComponent", "source": "source.component"})


def _label_selector(text: str) -> list[Callable[[dict[str, str]], bool]]:
    return [_label_test(term) for term in _split_terms(text)]


def _label_test(term: str) -> Callable[[dict[str, str]], bool]:
    if " notin " in term or " in " in term:
        negate = " notin " in term
        key, _, values = term.partition(" notin " if negate else " in ")
        name, allowed = key.strip(), {v.strip() for v in values.strip().strip("()").split(",")}
        return lambda lab: (lab.get(name) in allowed) != negate
    if "=" in term:
        negate = "!=" in term
        key, _, value = term.partition("!=" if negate else ("==" if "==" in term else "="))
        name, want = key.strip(), value.strip()
        return lambda lab: (lab.get(name) == want) != negate
    if term.startswith("!"):
        absent = term[1:].strip()
        return lambda lab: absent not in lab
    return lambda lab: term in lab


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += ch
    return [t for t in [*terms, current.strip()] if t]


def _for_watcher(change: _Change, match: Callable[[dict[str, Any]], bool]) -> str:
    """What a filtered watcher sees: objects entering or leaving its selector are ADDED or DELETED."""
    now = match(change.obj)
    if change.type != "MODIFIED" or change.old is None:
        return change.type if now else ""
    before = match(change.old)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else ""


def _to_api(res: Resource, obj: dict[str, Any], typed: bool = True) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    if res.api_version == "events.k8s.io/v1":
        out = _core_event_to_v1(out)
    if typed:
        out = {"kind": res.kind, "apiVersion": res.api_version, **out}
    else:
        out.pop("kind", None)
        out.pop("apiVersion", None)
    return out


def _from_api(res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    if res.api_version == "events.k8s.io/v1":
        obj = _v1_event_to_core(obj)
    return obj


_EVENT_RENAMES = (("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
                  ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
                  ("count", "deprecatedCount"), ("reportingComponent", "reportingController"))


def _core_event_to_v1(obj: dict[str, Any]) -> dict[str, Any]:
    for core, v1 in _EVENT_RENAMES:
        if core in obj:
            obj[v1] = obj.pop(core)
    return obj


def _v1_event_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    for core, v1 in _EVENT_RENAMES:
        if v1 in obj:
            obj[core] = obj.pop(v1)
    return obj


def _dig(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _sort_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError):
        raise _HttpError(400, "BadRequest", "continue key is not valid: incorrect encoded start resourceVersion "
                         "(version meta.k8s.io/v1)") from None


def _qualified(res: Resource) -> str:
    return f"{res.plural}.{res.group.partition('/')[0]}" if res.group else res.plural


def _details(res: Resource, name: str) -> dict[str, Any]:
    return {"name": name, "group": res.group, "kind": res.plural}


def _not_found(res: Resource, name: str) -> _HttpError:
    return _HttpError(404, "NotFound", f'{_qualified(res)} "{name}" not found', details=_details(res, name))


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"

