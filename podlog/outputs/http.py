"""Generic HTTP output: POST documents as a JSON array or NDJSON to a collector of the user's own.

Statuses decide: 2xx delivered; 429, 408, 5xx (and 401/403, so a rotated or
mistyped credential delays data instead of losing it) are retried by the
engine; other 4xx mean the collector refuses those documents and they are
dead-lettered. A 400/413 on a request of many documents is bisected first,
so one oversized or unacceptable document does not take its neighbours down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from podlog.config.options import Option
from podlog.outputs._base import Chunk, Output, Result, Status
from podlog.outputs._http import Auth, HttpClient, HttpError, Tls, split_docs

__all__ = ["HttpOutput"]

log = logging.getLogger("podlog.output.http")

_FORMATS = {"json_array": "json_array", "json": "json_array", "ndjson": "ndjson", "json_lines": "ndjson"}


class HttpOutput(Output):
    """Sends each chunk in one or more requests (split by size), keep-alive, optionally gzipped."""

    name = "http"

    class Options(Output.Options):
        url = Option("str", doc="Where to send, e.g. https://collector:8080/logs (comma-separated for failover).",
                     aliases=("endpoint", "uri"))
        http_method = Option("str", "POST", doc="POST or PUT.", choices=("POST", "PUT", "post", "put"),
                             aliases=("method",))
        format = Option("str", "ndjson", doc="ndjson (json_lines): one document per line; json_array (json): "
                        "one JSON array per request.", choices=tuple(_FORMATS))
        json_array = Option("bool", False, doc="Fluentd's switch: true means format json_array.")
        content_type = Option("str", "", doc="Content-Type; default application/json or application/x-ndjson.")
        headers = Option("dict", {}, doc="Extra HTTP headers.")
        user = Option("str", "", doc="Basic-auth user.", aliases=("username",))
        password = Option("str", "", doc="Basic-auth password.")
        password_file = Option("str", "", doc="File holding the password (a mounted Secret).")
        bearer_token = Option("str", "", doc="Bearer token.")
        bearer_token_file = Option("str", "", doc="File holding the bearer token, re-read when it changes.")
        ssl_verify = Option("bool", True, doc="Verify the server certificate.", aliases=("tls_verify",))
        ca_file = Option("str", "", doc="CA bundle.", aliases=("tls_ca_cert_path",))
        client_cert = Option("str", "", doc="Client certificate for mutual TLS.", aliases=("tls_client_cert_path",))
        client_key = Option("str", "", doc="Client key.", aliases=("tls_private_key_path",))
        gzip = Option("bool", False, doc="Gzip request bodies (collectors must accept Content-Encoding: gzip).")
        compress = Option("str", "", doc="Fluentd's spelling: gzip or text.", choices=("", "gzip", "text"))
        request_timeout = Option("duration", 30.0, doc="Time allowed for one request.", aliases=("read_timeout",),
                                 min=0.001)
        max_request_bytes = Option("size", 4 * 1024 * 1024, doc="Largest request body; chunks are split to fit.",
                                   min=1)
        max_request_documents = Option("int", 0, doc="Most documents per request (0: no limit).", min=0)
        retryable_response_codes = Option("list", [], doc="Statuses to retry besides 408, 429, 5xx, 401 and 403.")

    options: Options

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        o = self.options
        self.format = "json_array" if o.json_array else _FORMATS[o.format]
        self.gzip_level = 1 if (o.gzip or o.compress == "gzip") else 0
        self.retryable = {408, 429, 401, 403} | {int(c) for c in o.retryable_response_codes}
        try:
            self.urls = [u.strip() for u in o.url.split(",") if u.strip()]
            if not self.urls or any("://" not in u for u in self.urls):
                raise ValueError
        except ValueError:
            raise o.error("url", "expected an http:// or https:// URL") from None
        default_type = "application/json" if self.format == "json_array" else "application/x-ndjson"
        self.headers = {"Content-Type": o.content_type or default_type, **o.headers}
        self.client: HttpClient | None = None

    def start(self) -> None:
        o = self.options
        auth = Auth(user=o.user, password=o.password, password_file=o.password_file,
                    bearer_token=o.bearer_token, bearer_token_file=o.bearer_token_file)
        tls = Tls(verify=o.ssl_verify, ca_file=o.ca_file, client_cert=o.client_cert, client_key=o.client_key)
        self.client = HttpClient(self.urls, auth=auth, tls=tls, timeout=o.request_timeout, headers=self.headers)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()

    def body(self, docs: list[bytes]) -> bytes:
        if self.format == "json_array":
            return b"[" + b",".join(docs) + b"]"
        return b"\n".join(docs) + b"\n"

    def write(self, chunk: Chunk) -> Result:
        if self.client is None:
            self.start()
        docs = chunk.docs()
        groups = split_docs(docs, self.options.max_request_bytes, self.options.max_request_documents)
        rejected: list[tuple[bytes, str]] = []
        for n, group in enumerate(groups):
            error, left = self._post(docs, group, rejected)
            if error:  # refusals are final (dead-lettered now); the rest is retried, and only it
                return Result.partial(error, left + [i for g in groups[n + 1:] for i in g], rejected)
        if rejected:
            log.warning("http collector refused %d documents: %s", len(rejected), rejected[0][1])
        return Result(Status.DELIVERED, rejected=rejected)

    def _post(self, docs: list[bytes], group: Sequence[int],
              rejected: list[tuple[bytes, str]]) -> tuple[str, list[int]]:
        """Send the documents at ``group``; returns a retry reason ('' when done) and the positions left."""
        assert self.client is not None
        path = ""  # the configured URL is complete
        try:
            resp = self.client.request(self.options.http_method.upper(), path, self.body([docs[i] for i in group]),
                                       gzip_level=self.gzip_level)
        except HttpError as exc:
            return str(exc), list(group)
        status = resp.status
        if 200 <= status < 300:
            return "", []
        snippet = resp.data[:200].decode("utf-8", "replace").strip()
        if status in self.retryable or status >= 500:
            return f"{resp.url} answered HTTP {status}: {snippet}", list(group)
        if status in (400, 413, 422) and len(group) > 1:
            half = len(group) // 2
            error, left = self._post(docs, group[:half], rejected)
            if error:
                return error, left + list(group[half:])
            return self._post(docs, group[half:], rejected)
        rejected.extend((docs[i], f"HTTP {status}: {snippet}") for i in group)
        return "", []
