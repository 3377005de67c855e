"""A small Kubernetes API client on urllib3: list (paged), watch (streamed), get, create, replace, delete.

The official Python client pulls in tens of megabytes of generated models; a
node agent needs six verbs on a handful of resources, all plain JSON, so this
speaks the documented REST API directly (API concepts: "Efficient detection
of changes", "Retrieving large results sets in chunks", "Watch bookmarks"):

- ``list(path)`` pages with ``limit``/``continue`` and returns the items and
  the list's ``resourceVersion``, the point a watch resumes from. A continue
  token that expired mid-way (410) restarts the list, so the result is one
  consistent snapshot.
- ``watch(path, resource_version)`` yields ``(type, object)`` from the
  newline-delimited JSON stream: ADDED, MODIFIED, DELETED and BOOKMARK
  (bookmarks asked for by default). A ``410 Gone`` (HTTP status or an ERROR
  event with code 410) raises :class:`Expired`: re-list. A stream cut mid-way
  raises :class:`Unreachable`: watch again from the last resourceVersion seen.

Paths are API paths, e.g. ``/api/v1/pods`` or
``/apis/coordination.k8s.io/v1/namespaces/ns/leases/name``; :func:`resource_path` builds them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import urllib3
from urllib3.exceptions import HTTPError as _Urllib3Error

from podlog.k8s.config import ApiConfig
from podlog.k8s.errors import ApiError, Expired, Unauthorized, Unreachable, error_from_status

__all__ = ["KubeClient", "ListResult", "resource_path"]

log = logging.getLogger("podlog.k8s")


def resource_path(api_version: str, plural: str, namespace: str = "", name: str = "") -> str:
    """``v1`` -> ``/api/v1/...``; ``group/version`` -> ``/apis/group/version/...``."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    ns = f"/namespaces/{quote(namespace, safe='')}" if namespace else ""
    tail = f"/{quote(name, safe='')}" if name else ""
    return f"{root}{ns}/{plural}{tail}"


@dataclass
class ListResult:
    items: list[dict[str, Any]]
    resource_version: str


class KubeClient:
    """Thread-safe; ``requests`` counts the HTTP requests sent (watches included)."""

    def __init__(self, config: ApiConfig, timeout: float = 30.0, user_agent: str = "podlog") -> None:
        self.config = config
        self.timeout = timeout
        self.requests = 0
        self._lock = threading.Lock()
        self._streams: set[Any] = set()  # open watch responses, shut down by close()
        self._closed = False
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        tls: dict[str, Any] = {}
        if config.server.startswith("https:"):
            if config.verify:
                tls["cert_reqs"] = "CERT_REQUIRED"
                if config.ca_file:
                    tls["ca_certs"] = config.ca_file
            else:
                tls["cert_reqs"] = "CERT_NONE"
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
                log.warning("kubernetes: TLS verification of %s is off", config.server)
            if config.client_cert:
                tls["cert_file"] = config.client_cert
                tls["key_file"] = config.client_key or None
        self._pool = urllib3.PoolManager(maxsize=4, retries=False, **tls)

    # -- verbs -----------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._json("GET", path, params)

    def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """POST to the collection path; Conflict (AlreadyExists) if the name is taken."""
        return self._json("POST", path, body=obj)

    def replace(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT to the object path; with ``metadata.resourceVersion`` set, Conflict if it changed since."""
        return self._json("PUT", path, body=obj)

    update = replace

    def delete(self, path: str) -> dict[str, Any]:
        return self._json("DELETE", path)

    def list(self, path: str, params: Mapping[str, Any] | None = None, limit: int = 500) -> ListResult:
        """All items, paged ``limit`` at a time, as one consistent snapshot."""
        for _attempt in range(3):
            items: list[dict[str, Any]] = []
            query = dict(params or {})
            if limit:
                query["limit"] = limit
            try:
                while True:
                    page = self._json("GET", path, query)
                    items.extend(page.get("items") or [])
                    meta = page.get("metadata") or {}
                    token = meta.get("continue")
                    if not token:
                        return ListResult(items, str(meta.get("resourceVersion", "")))
                    query["continue"] = token
            except Expired:
                if "continue" not in query:
                    raise
                log.info("kubernetes: continue token of %s expired mid-list, listing again", path)
        raise Expired(410, "Expired", f"list of {path} kept expiring")

    def watch(self, path: str, resource_version: str = "", params: Mapping[str, Any] | None = None,
              timeout_seconds: int = 300, bookmarks: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) pairs until the server ends the watch (after ``timeout_seconds``)."""
        query: dict[str, Any] = {**(params or {}), "watch": "true", "timeoutSeconds": timeout_seconds}
        if resource_version:
            query["resourceVersion"] = resource_version
        if bookmarks:
            query["allowWatchBookmarks"] = "true"
        # The server ends the stream itself; the read timeout only catches a dead connection.
        resp = self._send("GET", path, query, None, stream=True, read_timeout=timeout_seconds + 30)
        with self._lock:
            closed = self._closed
            if not closed:
                self._streams.add(resp)
        if closed:  # close() ran while this watch was being opened
            resp.close()
            raise Unreachable(f"watch of {path}: the client was closed")
        try:
            yield from self._events(resp, path)
        finally:
            with self._lock:
                self._streams.discard(resp)
            resp.close()

    def close(self) -> None:
        """Ends open watches (their readers see Unreachable) and drops idle connections."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for resp in streams:
            try:
                resp.shutdown()  # unblocks a read in another thread
            except Exception:
                pass
        self._pool.clear()

    # -- plumbing --------------------------------------------------------------------------------

    @staticmethod
    def _events(resp: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        pending = b""
        try:
            for chunk in resp.stream(65536, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield _event(line, path)
        except (_Urllib3Error, OSError) as exc:
            raise Unreachable(f"watch of {path} cut: {exc.__class__.__name__}") from None
        if pending.strip():
            try:
                event = _event(pending, path)
            except orjson.JSONDecodeError:
                raise Unreachable(f"watch of {path} cut mid-event") from None
            yield event

    def _json(self, method: str, path: str, params: Mapping[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = self._send(method, path, params, body)
        try:
            data = orjson.loads(resp.data) if resp.data else {}
        except orjson.JSONDecodeError:
            raise ApiError(resp.status, "BadResponse", f"{method} {path}: answer is not JSON") from None
        return data if isinstance(data, dict) else {}

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None, body: dict[str, Any] | None,
              stream: bool = False, read_timeout: float | None = None) -> Any:
        if self._closed:
            raise Unreachable(f"{method} {path}: the client was closed")
        url = self.config.server + path + (f"?{urlencode(params)}" if params else "")
        payload = orjson.dumps(body) if body is not None else None
        for attempt in (0, 1):
            headers = dict(self._headers)
            if payload is not None:
                headers["Content-Type"] = "application/json"
            token = self.config.token.get()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            elif self.config.username:
                headers.update(urllib3.make_headers(basic_auth=f"{self.config.username}:{self.config.password}"))
            with self._lock:
                self.requests += 1
            try:
                resp = self._pool.request(
                    method, url, body=payload, headers=headers, preload_content=not stream,
                    timeout=urllib3.Timeout(connect=min(self.timeout, 10.0), read=read_timeout or self.timeout))
            except (_Urllib3Error, OSError) as exc:
                raise Unreachable(f"{method} {self.config.server}{path}: {exc.__class__.__name__}: "
                                  f"{_reason(exc)}") from None
            if resp.status < 300:
                return resp
            data = resp.data
            resp.release_conn()
            err = _status_error(resp.status, data, f"{method} {path}")
            if isinstance(err, Unauthorized) and attempt == 0 and self.config.token.path:
                self.config.token.invalidate()  # a rotated token: read it again and retry once
                continue
            raise err
        raise AssertionError("unreachable")


def _event(line: bytes, path: str) -> tuple[str, dict[str, Any]]:
    event = orjson.loads(line)
    kind, obj = event.get("type", ""), event.get("object") or {}
    if kind == "ERROR":
        raise error_from_status(0, obj, f"watch of {path} failed")
    return kind, obj


def _status_error(status: int, data: bytes, what: str) -> ApiError:
    try:
        body = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        body = {}
    err = error_from_status(status, body if isinstance(body, dict) else {}, f"{what}: HTTP {status}")
    err.args = (f"{what}: {err}",)
    return err


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).split(": ", 1)[-1][:200]
