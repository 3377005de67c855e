"""HTTP plumbing shared by the HTTP-speaking outputs: keep-alive pools, failover, TLS, auth, gzip.

urllib3 does the wire work; this module adds what log shipping needs on top:

* several base URLs tried in turn, a failing one set aside for a while;
* no retries here (``retries=False``): the engine owns retries and backoff;
* credentials (basic, API key, bearer token) from config, env or mounted
  Secret files, re-read when a file changes so rotated Secrets are picked up;
* error messages that never carry a credential: URLs are stripped of their
  userinfo and headers never appear in text.

Exceptions::

    HttpError
     └── Unavailable    no host answered (connection refused, timeout, TLS)
"""

from __future__ import annotations

import base64
import gzip
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError as _Urllib3Error

__all__ = [
    "Auth", "HttpClient", "HttpError", "Response", "Tls", "Unavailable",
    "compress", "split_docs", "split_url",
]


class HttpError(Exception):
    """Base of this module's errors; the message is safe to log."""


class Unavailable(HttpError):
    """No configured host could be reached."""


@dataclass
class Response:
    status: int
    data: bytes
    url: str  # without credentials
    headers: Mapping[str, str] = field(default_factory=dict)


def compress(body: bytes, level: int) -> bytes:
    """Gzip ``body``; ``mtime=0`` keeps the output deterministic (and tests simple)."""
    return gzip.compress(body, compresslevel=level, mtime=0)


def split_url(url: str) -> tuple[str, str | None, str | None]:
    """``https://u:p@h:9200/x`` -> (``https://h:9200/x``, ``u``, ``p``): credentials leave the URL at once."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/"), None, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return clean.rstrip("/"), user, password


class _Secret:
    """A value given inline or as a file path (a mounted Secret); files are re-read when they change."""

    def __init__(self, value: str = "", path: str = "") -> None:
        self._value = value
        self._path = path
        self._mtime = -1.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "<secret>"

    def __bool__(self) -> bool:
        return bool(self._value or self._path)

    def get(self) -> str:
        if not self._path:
            return self._value
        with self._lock:
            try:
                mtime = os.stat(self._path).st_mtime
                if mtime != self._mtime:
                    with open(self._path, encoding="utf-8") as f:
                        self._value = f.read().strip()
                    self._mtime = mtime
            except OSError as exc:
                # The path is not secret; the content is. Keep the last value read.
                if not self._value:
                    raise HttpError(f"cannot read credential file {self._path}: {exc.strerror}") from None
            return self._value


class Auth:
    """Builds the Authorization header: basic, API key or bearer token (first configured wins in that order)."""

    def __init__(
        self,
        user: str = "",
        password: str = "",
        password_file: str = "",
        api_key: str = "",
        api_key_file: str = "",
        bearer_token: str = "",
        bearer_token_file: str = "",
        user_file: str = "",
    ) -> None:
        self._user = _Secret(user, user_file)
        self._password = _Secret(password, password_file)
        self._api_key = _Secret(api_key, api_key_file)
        self._bearer = _Secret(bearer_token, bearer_token_file)

    def __repr__(self) -> str:
        return f"Auth(kind={self.kind!r})"

    @property
    def kind(self) -> str:
        if self._user:
            return "basic"
        if self._api_key:
            return "api_key"
        if self._bearer:
            return "bearer"
        return "none"

    def headers(self) -> dict[str, str]:
        kind = self.kind
        if kind == "basic":
            pair = f"{self._user.get()}:{self._password.get()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        if kind == "api_key":
            key = self._api_key.get()
            if ":" in key:  # "id:api_key" as Kibana shows it; the header wants it base64-encoded
                key = base64.b64encode(key.encode()).decode("ascii")
            return {"Authorization": "ApiKey " + key}
        if kind == "bearer":
            return {"Authorization": "Bearer " + self._bearer.get()}
        return {}


@dataclass
class Tls:
    """TLS settings; verification is on unless turned off explicitly."""

    verify: bool = True
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    client_key_password: str = ""

    def pool_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED" if self.verify else "CERT_NONE"}
        if not self.verify:
            kwargs["assert_hostname"] = False
        if self.ca_file:
            kwargs["ca_certs"] = self.ca_file
        if self.client_cert:
            kwargs["cert_file"] = self.client_cert
            if self.client_key:
                kwargs["key_file"] = self.client_key
            if self.client_key_password:
                kwargs["key_password"] = self.client_key_password
        return kwargs


class HttpClient:
    """Keep-alive connections to one or more base URLs with failover.

    Requests go to the current host; on a connection-level failure that host
    is set aside for ``dead_for`` seconds and the next one is tried, so one
    request tries each host at most once. HTTP error statuses are returned,
    not raised: what they mean is the caller's business.
    """

    def __init__(
        self,
        urls: list[str],
        *,
        auth: Auth | None = None,
        tls: Tls | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        pool_size: int = 4,
        dead_for: float = 5.0,
    ) -> None:
        if not urls:
            raise ValueError("no URL configured")
        self.urls: list[str] = []
        user = password = None
        for url in urls:
            clean, u, p = split_url(url)
            self.urls.append(clean)
            user, password = user or u, password or p
        self.auth = auth or Auth()
        if user and self.auth.kind == "none":
            self.auth = Auth(user=user, password=password or "")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.dead_for = dead_for
        self._dead_until = [0.0] * len(self.urls)
        self._current = 0
        self._lock = threading.Lock()
        tls = tls or Tls()
        if not tls.verify:
            # Said once here rather than by urllib3 on every request (which would flood the agent's log).
            logging.getLogger("podlog.output").warning(
                "TLS certificate verification is off for %s", ", ".join(self.urls))
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._pool = urllib3.PoolManager(
            num_pools=max(4, len(self.urls)), maxsize=pool_size, retries=False,
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout), **tls.pool_kwargs())

    def _order(self) -> list[int]:
        """Hosts to try: the current one first, then live ones, then dead ones as a last resort."""
        now = time.monotonic()
        with self._lock:
            start = self._current
        ring = [(start + i) % len(self.urls) for i in range(len(self.urls))]
        alive = [i for i in ring if self._dead_until[i] <= now]
        return alive + [i for i in ring if i not in alive]

    def _mark(self, index: int, ok: bool) -> None:
        with self._lock:
            if ok:
                self._dead_until[index] = 0.0
                self._current = index
            else:
                self._dead_until[index] = time.monotonic() + self.dead_for
                if self._current == index:
                    self._current = (index + 1) % len(self.urls)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        gzip_level: int = 0,
    ) -> Response:
        """Send to the first host that answers; raises Unavailable if none does."""
        all_headers = {**self.headers, **self.auth.headers(), **(headers or {})}
        if body is not None and gzip_level > 0:
            body = compress(body, gzip_level)
            all_headers["Content-Encoding"] = "gzip"
        errors: list[str] = []
        for index in self._order():
            url = self.urls[index] + path
            try:
                resp = self._pool.request(method, url, body=body, headers=all_headers, redirect=False,
                                          preload_content=True, decode_content=True)
            except _Urllib3Error as exc:
                self._mark(index, ok=False)
                errors.append(f"{self.urls[index]}: {_describe(exc)}")
                continue
            self._mark(index, ok=True)
            return Response(resp.status, resp.data or b"", url, dict(resp.headers))
        raise Unavailable("no host answered: " + "; ".join(errors))

    def close(self) -> None:
        self._pool.clear()


def _describe(exc: BaseException) -> str:
    """A short reason for a urllib3 error without the request (which could hold headers)."""
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    text = str(inner)
    # urllib3 prefixes some messages with the connection object's repr; keep the useful tail.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return f"{type(inner).__name__}: {text}"[:300]


def split_docs(docs: list[bytes], max_bytes: int, max_docs: int = 0) -> list[range]:
    """Group documents into request bodies within a byte and a count limit; an oversized doc goes alone.

    Groups are runs of positions in ``docs``, so a caller can name what is left to retry by position.
    """
    groups: list[range] = []
    start = size = 0
    for i, doc in enumerate(docs):
        if i > start and (size + len(doc) + 1 > max_bytes or (max_docs and i - start >= max_docs)):
            groups.append(range(start, i))
            start, size = i, 0
        size += len(doc) + 1
    if start < len(docs):
        groups.append(range(start, len(docs)))
    return groups
