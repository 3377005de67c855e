"""The ``http`` input: applications POST JSON records, the way Fluentd's in_http takes them.

``POST /app.access`` gives the tag ``app.access`` (slashes become dots). The
body is a JSON object, a JSON array of objects, NDJSON, a MessagePack object
or array, or a form with ``json=`` (Fluentd's form); gzip is allowed. A
``time`` query or form parameter (epoch seconds) dates every record, and a
record's own numeric ``time`` field dates that record.

The answer comes once the records are acknowledged (durably in a file buffer,
or delivered with a memory buffer): 200 means they are safe. A bad body is a
400 naming what is wrong and nothing of it is kept; while the buffers push
back the answer is 429 with Retry-After, at shutdown 503. Bodies over
``body_size_limit`` (before or after gzip) get 413 and a closed connection.
The HTTP/1.1 framing is asyncio streams and a few lines here: request line,
headers, Content-Length or chunked bodies, keep-alive, ``Expect: 100-continue``.
"""

from __future__ import annotations

import asyncio
import hmac
import zlib
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from podlog.config.options import Option
from podlog.inputs._push import PushInput, document, now_rfc3339, rfc3339

__all__ = ["HttpInput"]

MAX_HEAD = 64 * 1024
_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
            415: "Unsupported Media Type", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}
_NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonlines", "application/x-jsonlines",
           "application/json-lines", "application/jsonl")
_MSGPACK = ("application/msgpack", "application/x-msgpack")


class BadRequest(Exception):
    """The client's fault: answered with ``status`` and the message, nothing of the body is kept."""

    def __init__(self, message: str, status: int = 400, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close


class Request:
    __slots__ = ("body", "headers", "method", "target", "version")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = b""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


def _parse_head(head: bytes) -> Request:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise BadRequest("undecodable request head", close=True) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("not an HTTP/1.x request line", close=True)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line[:80]!r}", close=True)
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Request(parts[0], parts[1], parts[2], headers)


def _gunzip(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid gzip: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise BadRequest(f"body is larger than body_size_limit ({limit} bytes) once decompressed", 413)
    if not d.eof:
        raise BadRequest("gzip body is truncated")
    return out


def _epoch(value: Any) -> tuple[int, int] | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    ns = int(value * 1_000_000_000) if isinstance(value, float) else value * 1_000_000_000
    return ns // 1_000_000_000, ns % 1_000_000_000


class HttpInput(PushInput):
    """Receives records over HTTP: POST /<tag> with JSON, NDJSON or MessagePack (Fluentd's in_http)."""

    name: ClassVar[str] = "http"

    class Options(PushInput.Options):
        port = Option("int", 9880, doc="TCP port to listen on.")
        body_size_limit = Option("size", 32 * 1024 * 1024, doc="Largest body accepted, also once gunzipped; "
                                 "larger ones get 413.")
        token = Option("str", "", doc="Require 'Authorization: Bearer <token>' (401 otherwise). Empty: no auth.")
        time_key = Option("str", "time", doc="A record's field with its time in epoch seconds (removed unless "
                          "keep_time_key). Empty: records are dated by the time parameter or arrival.")
        keep_time_key = Option("bool", False, doc="Keep the time_key field in the record.")
        add_remote_addr = Option("bool", False, doc="Add the client address as REMOTE_ADDR (as Fluentd does).")
        add_http_headers = Option("bool", False, doc="Add each request header as HTTP_<NAME> (as Fluentd does).")
        retry_after = Option("int", 1, doc="Seconds given in Retry-After with 429 and 503 answers.")
        use_204_response = Option("bool", False, doc="Answer 204 No Content instead of 200 OK.")
        cors_allow_origins = Option("list", [], doc="Fluentd: origins allowed by CORS.",
                                    ignored="no CORS headers are sent.")
        respond_with_empty_img = Option("bool", False, doc="Fluentd: answer with an empty GIF.",
                                        ignored="answers carry no image.")

    options: Options

    async def listen(self) -> None:
        await self.serve_tcp(self._connection, limit=MAX_HEAD)

    # --- HTTP/1.1 framing -------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else ""
        idle = self.options.idle_timeout
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle)
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip():
                    self.note("bad_request", "connection closed in the middle of a request head")
                return
            except asyncio.LimitOverrunError:
                await self._respond(writer, 431, {"error": f"request head over {MAX_HEAD} bytes"}, close=True)
                return
            except TimeoutError:
                self.note("idle_closed", "connection idle (or a request left half-sent) for idle_timeout: closed")
                return
            try:
                request = _parse_head(head[:-4])
                status, body, extra = await self._request(request, reader, writer, address)
                close = not request.keep_alive
            except TimeoutError:
                self.note("idle_closed", "connection idle (or a request left half-sent) for idle_timeout: closed")
                return
            except BadRequest as exc:
                self.note("bad_request", "%s answered to %s: %s", exc.status, address, str(exc)[:200])
                status, body, extra, close = exc.status, {"error": str(exc)}, {}, exc.close
            if status in (429, 503):
                extra["Retry-After"] = str(self.options.retry_after)
            await self._respond(writer, status, body, extra, close)
            if close:
                return

    async def _respond(self, writer: asyncio.StreamWriter, status: int, body: Any, extra: dict[str, str] | None = None,
                       close: bool = False) -> None:
        payload = orjson.dumps(body) if body is not None else b""
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", f"Content-Length: {len(payload)}"]
        if payload:
            head.append("Content-Type: application/json")
        head.extend(f"{k}: {v}" for k, v in (extra or {}).items())
        if close:
            head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await writer.drain()

    async def _read_body(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        limit = self.options.body_size_limit
        headers = request.headers
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length_text = headers.get("content-length")
        if not chunked and length_text is None:
            return b""
        length = -1
        if not chunked:
            if not length_text.isdigit():  # type: ignore[union-attr]
                raise BadRequest(f"bad Content-Length {length_text!r}", close=True)
            length = int(length_text)  # type: ignore[arg-type]
            if length > limit:
                raise BadRequest(f"body of {length} bytes is larger than body_size_limit ({limit})", 413, True)
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not chunked:
            return await self._read_exactly(reader, length)
        return await self._read_chunked(reader, limit)

    async def _read_exactly(self, reader: asyncio.StreamReader, n: int) -> bytes:
        parts = []
        while n > 0:
            piece = await self.read(reader, min(n, 1024 * 1024))
            if not piece:
                raise ConnectionResetError("body cut short")
            parts.append(piece)
            n -= len(piece)
        return b"".join(parts)

    async def _read_chunked(self, reader: asyncio.StreamReader, limit: int) -> bytes:
        body = bytearray()
        idle = self.options.idle_timeout
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), idle)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("malformed chunk size", close=True) from None
            if size == 0:
                while (await asyncio.wait_for(reader.readuntil(b"\r\n"), idle)) != b"\r\n":
                    pass  # trailers
                return bytes(body)
            if len(body) + size > limit:
                raise BadRequest(f"chunked body is larger than body_size_limit ({limit} bytes)", 413, True)
            body += await self._read_exactly(reader, size)
            if await asyncio.wait_for(reader.readexactly(2), idle) != b"\r\n":
                raise BadRequest("malformed chunk", close=True)

    # --- one request ------------------------------------------------------------------------

    async def _request(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       address: str) -> tuple[int, Any, dict[str, str]]:
        o = self.options
        if o.token and not self._authorized(request):
            raise BadRequest("missing or wrong bearer token", 401, close=True)
        url = urlsplit(request.target)
        tag = ".".join(p for p in unquote(url.path).split("/") if p)
        if request.method not in ("POST", "PUT", "GET"):
            raise BadRequest("only POST is supported: POST /<tag> with JSON records", 405, close=True)
        if self._stopping:
            raise BadRequest("shutting down, retry later", 503, close=True)
        if self.busy:
            self.note("backpressure", "buffers full: answering 429")
            raise BadRequest("buffers are full, retry later", 429, close=True)
        request.body = await self._read_body(request, reader, writer)
        if not tag:
            raise BadRequest("the tag comes from the URL path: POST /app.access")
        if not request.body.strip() and "json=" not in url.query:
            raise BadRequest("empty body: no records")
        docs, size = self._documents(request, url.query, address)
        if not docs:
            raise BadRequest("no records in the body")
        if await self.accept(tag, docs, size, wait=True):
            return (204, None, {}) if o.use_204_response else (200, None, {})
        return 503, {"error": "records not accepted in time (buffers full or shutting down); retry later"}, {}

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.options.token.encode())

    def _documents(self, request: Request, query: str, address: str) -> tuple[list[bytes], int]:
        """Serialised records with @timestamp, from any accepted body form; BadRequest names the problem."""
        headers = request.headers
        body = request.body
        encoding = headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip"):
            body = _gunzip(body, self.options.body_size_limit)
        elif encoding not in ("", "identity"):
            raise BadRequest(f"Content-Encoding {encoding} is not supported (gzip is)", 415)
        params = parse_qs(query, keep_blank_values=True)
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        lines: list[bytes] | None = None
        form = ctype == "application/x-www-form-urlencoded" or (request.method == "GET" and not body)
        if form and body.lstrip()[:1] not in (b"{", b"["):  # curl -d sends JSON as a form too: take it as JSON
            try:
                params.update(parse_qs(body.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                raise BadRequest("form body is not UTF-8") from None
            if "json" in params:
                records = self._json(params["json"][-1].encode())
            elif "msgpack" in params:
                records = self._msgpack(params["msgpack"][-1].encode("latin-1"))
            else:
                raise BadRequest("a form body needs a json= (or msgpack=) parameter; or send JSON or NDJSON")
        elif ctype in _MSGPACK:
            records = self._msgpack(body)
        elif ctype in _NDJSON:
            lines, records = self._ndjson(body)
        else:  # application/json, text/plain, none: one JSON value, or NDJSON if it is not one
            try:
                records = self._json(body)
            except BadRequest:
                if b"\n" not in body.strip():
                    raise
                lines, records = self._ndjson(body)
        default = self._time_param(params)
        return self._serialise(records, lines, default, headers, address)

    @staticmethod
    def _json(data: bytes) -> list[Any]:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from None
        return value if isinstance(value, list) else [value]

    @staticmethod
    def _msgpack(data: bytes) -> list[Any]:
        import msgpack

        try:
            value = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, msgpack.UnpackException) as exc:
            raise BadRequest(f"body is not MessagePack: {exc}") from None
        return value if isinstance(value, list) else [value]

    @staticmethod
    def _ndjson(body: bytes) -> tuple[list[bytes], list[Any]]:
        lines = [line for line in (raw.strip() for raw in body.split(b"\n")) if line]
        records = []
        loads = orjson.loads
        for i, line in enumerate(lines, 1):
            try:
                records.append(loads(line))
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"line {i} is not JSON: {exc}") from None
        return lines, records

    def _time_param(self, params: dict[str, list[str]]) -> str:
        if "time" not in params:
            return now_rfc3339()
        try:
            when = _epoch(float(params["time"][-1]))
        except ValueError:
            when = None
        if when is None:
            raise BadRequest(f"time parameter {params['time'][-1]!r} is not epoch seconds")
        return rfc3339(*when)

    def _serialise(self, records: list[Any], lines: list[bytes] | None, default: str, headers: dict[str, str],
                   address: str) -> tuple[list[bytes], int]:
        o = self.options
        key = o.time_key
        extra: dict[str, Any] = {}
        if o.add_remote_addr:
            extra["REMOTE_ADDR"] = address
        if o.add_http_headers:
            extra.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
                          if k != "authorization"})
        stamp = b'{"@timestamp":"' + default.encode() + b'",'
        docs: list[bytes] = []
        size = 0
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise BadRequest(f"record {i + 1} is a {type(record).__name__}, not an object")
            if lines is not None and record and not extra and key not in record and "@timestamp" not in record:
                doc = stamp + lines[i][1:]  # a valid JSON object already: splice, no second encoding
            else:
                ts = default
                when = _epoch(record.get(key)) if key else None
                if when is not None:
                    ts = rfc3339(*when)
                    if not o.keep_time_key:
                        del record[key]
                if extra:
                    record.update(extra)
                doc = document(ts, record)
            docs.append(doc)
            size += len(doc) + 1
        return docs, size
