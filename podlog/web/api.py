"""The search API over a store (Starlette): search, histogram, fields, top values, one document, context, live
tail (Server-Sent Events), export (NDJSON/CSV, streamed), stats, and the web UI's static files.

Errors are JSON ``{"error": ..., "position": ...}`` with a 4xx status; ``position`` is the character of a query
syntax error. Reads go to worker threads (tantivy releases the GIL while it searches), so one slow request
does not hold up the others. The OpenAPI document is ``openapi.yaml`` next to this module.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from podlog.store.query import QuerySyntaxError
from podlog.store.reader import NotFound, StoreReader
from podlog.store.timerange import BadParameter, choose_interval_ms, parse_time_ms

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
OPENAPI = Path(__file__).parent / "openapi.yaml"
MAX_SIZE = 1000
MAX_WINDOW = 10_000
DEFAULT_RANGE_MS = 15 * 60_000
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
DEFAULT_COLUMNS = ("time", "namespace", "pod", "container", "message")
TAIL_POLL = 0.5
TAIL_KEEPALIVE = 15.0


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str, position: int | None = None) -> Response:
    return ORJSONResponse({"error": message, "position": position}, status_code=status)


def _int(request: Request, name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name}: expected an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadParameter(f"{name}: must be {bound}, got {value}")
    return value


def _range(request: Request) -> tuple[int, int]:
    now = int(time.time() * 1000)
    to_ms = parse_time_ms(request.query_params.get("to"), now, now, "to")
    from_ms = parse_time_ms(request.query_params.get("from"), now, to_ms - DEFAULT_RANGE_MS, "from")
    for name, value in (("from", from_ms), ("to", to_ms)):
        if not 0 <= value <= MAX_TIME_MS:
            raise BadParameter(f"{name}: {value} is outside 1970..9999")
    if from_ms > to_ms:
        raise BadParameter(f"from ({from_ms}) is after to ({to_ms})")
    return from_ms, to_ms


def _q(request: Request) -> str:
    q = request.query_params.get("q", "")
    if len(q) > 10_000:
        raise BadParameter("q: longer than 10000 characters")
    return q


class _Api:
    """The route handlers; each runs its store work in a worker thread."""

    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader

    async def call(self, fn: Callable[..., Any], *args: Any) -> Response:
        try:
            return ORJSONResponse(await run_in_threadpool(fn, *args))
        except QuerySyntaxError as exc:
            return _error(400, exc.message, exc.position)
        except BadParameter as exc:
            return _error(400, str(exc))
        except NotFound as exc:
            return _error(404, f"no document {exc.args[0]!r}")
        except BaseException as exc:  # tantivy panics are BaseException: answer 500, keep serving
            if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
                raise
            log.exception("request failed: %s", exc)
            return _error(500, f"internal error: {exc}")

    async def search(self, request: Request) -> Response:
        def run() -> Any:
            size = _int(request, "size", 100, 0, MAX_SIZE)
            offset = _int(request, "offset", 0, 0)
            if offset + size > MAX_WINDOW:
                raise BadParameter(f"offset + size must be at most {MAX_WINDOW} (narrow the query or the time "
                                   "range, or use /api/export)")
            from_ms, to_ms = _range(request)
            return self.reader.search(_q(request), from_ms, to_ms, size, offset)

        return await self.call(run)

    async def histogram(self, request: Request) -> Response:
        def run() -> Any:
            from_ms, to_ms = _range(request)
            return self.reader.histogram(_q(request), from_ms, to_ms, choose_interval_ms(max(to_ms - from_ms, 1)))

        return await self.call(run)

    async def fields(self, request: Request) -> Response:
        def run() -> Any:
            from_ms, to_ms = _range(request)
            return self.reader.fields(_q(request), from_ms, to_ms)

        return await self.call(run)

    async def top(self, request: Request) -> Response:
        def run() -> Any:
            name = request.query_params.get("field", "")
            if not name:
                raise BadParameter("field: required")
            from_ms, to_ms = _range(request)
            return self.reader.top(name, _q(request), from_ms, to_ms, _int(request, "size", 10, 1, 1000))

        return await self.call(run)

    async def doc(self, request: Request) -> Response:
        return await self.call(self.reader.doc, request.path_params["id"])

    async def context(self, request: Request) -> Response:
        def run() -> Any:
            before = _int(request, "before", 10, 0, MAX_SIZE)
            after = _int(request, "after", 10, 0, MAX_SIZE)
            return self.reader.context(request.path_params["id"], before, after)

        return await self.call(run)

    async def stats(self, request: Request) -> Response:
        return await self.call(self.reader.stats)

    async def tail(self, request: Request) -> Response:
        """New matches as they are committed, one ``data:`` line of hit JSON each (SSE)."""
        q = _q(request)
        try:
            await run_in_threadpool(self.reader.query, q)  # a syntax error answers 400 before the stream opens
            cursor = await run_in_threadpool(self.reader.max_seq)
        except QuerySyntaxError as exc:
            return _error(400, exc.message, exc.position)
        return StreamingResponse(self._tail(request, q, cursor), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _tail(self, request: Request, q: str, cursor: int) -> AsyncIterator[bytes]:
        yield b": podlog tail\n\n"  # the client sees the stream open at once
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            hits = await run_in_threadpool(self.reader.since, q, cursor)
            if hits:
                cursor = int(hits[-1]["id"])
                yield b"".join(b"id: " + h["id"].encode() + b"\ndata: " + orjson.dumps(h) + b"\n\n" for h in hits)
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since > TAIL_KEEPALIVE:
                yield b": keepalive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(TAIL_POLL)

    async def export(self, request: Request) -> Response:
        try:
            fmt = request.query_params.get("format", "ndjson")
            if fmt not in ("ndjson", "csv"):
                raise BadParameter(f"format: ndjson or csv, got {fmt!r}")
            from_ms, to_ms = _range(request)
            q = _q(request)
            await run_in_threadpool(self.reader.query, q)
            raw_columns = request.query_params.get("columns", "")
            columns = [c.strip() for c in raw_columns.split(",") if c.strip()] or list(DEFAULT_COLUMNS)
        except QuerySyntaxError as exc:
            return _error(400, exc.message, exc.position)
        except BadParameter as exc:
            return _error(400, str(exc))
        hits = self.reader.export(q, from_ms, to_ms)
        body = _ndjson(hits) if fmt == "ndjson" else _csv(hits, columns)
        name = f"podlog-{from_ms}-{to_ms}.{fmt}"
        return StreamingResponse(body, media_type="application/x-ndjson" if fmt == "ndjson" else "text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def openapi(self, request: Request) -> Response:
        return ORJSONResponse(yaml.safe_load(OPENAPI.read_text()))


def _ndjson(hits: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buf: list[bytes] = []
    for hit in hits:
        buf.append(orjson.dumps(hit))
        if len(buf) >= 500:
            yield b"\n".join(buf) + b"\n"
            buf = []
    if buf:
        yield b"\n".join(buf) + b"\n"


def column_value(hit: dict[str, Any], name: str) -> str:
    """A CSV cell: ``time`` as RFC 3339, the store's names (pod, namespace, ...), else a record field path."""
    if name == "time":
        ms = hit["time"]
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
    if name in ("message", "id", "tag", "source", "offset"):
        return str(hit[name])
    fields = hit["fields"]
    k8s = fields.get("kubernetes") if isinstance(fields.get("kubernetes"), dict) else {}
    short = {"namespace": "namespace_name", "pod": "pod_name", "container": "container_name", "node": "host"}
    if name in short and short[name] in k8s:
        return str(k8s[short[name]])
    value: Any = fields
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _csv(hits: Iterator[dict[str, Any]], columns: list[str]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for n, hit in enumerate(hits, 1):
        writer.writerow([column_value(hit, c) for c in columns])
        if n % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


class _TokenAuth:
    """``Authorization: Bearer <token>`` or ``?token=`` (for links: SSE and export) on /api/ paths.

    Plain ASGI rather than BaseHTTPMiddleware, which would buffer around the SSE stream."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/api/") and path != "/api/openapi.json":
            request = Request(scope)
            given = request.query_params.get("token", "")
            header = request.headers.get("authorization", "")
            if header.lower().startswith("bearer "):
                given = header[7:].strip()
            if not hmac.compare_digest(given.encode(), self.token):
                response = _error(401, "a token is required: Authorization: Bearer <token> or ?token=<token>")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _index(static_dir: Path) -> Callable[[Request], Any]:
    async def index(request: Request) -> Response:
        page = static_dir / "index.html"
        if page.is_file():
            return FileResponse(page)
        return PlainTextResponse("podlog: the web UI assets are not built (the API is under /api/, e.g. "
                                 "/api/search?q=error; see docs/store.md).\n")

    return index


def create_app(reader: StoreReader | str, token: str | None = None, static_dir: Path | None = None) -> Starlette:
    """The ASGI app over a store (a path, or an open reader). ``token``: required on /api/ when set."""
    if isinstance(reader, str):
        reader = StoreReader(reader)
    reader.start_sampler()
    api = _Api(reader)
    static_dir = static_dir or STATIC_DIR
    routes = [
        Route("/", _index(static_dir)),
        Route("/api/search", api.search),
        Route("/api/histogram", api.histogram),
        Route("/api/fields", api.fields),
        Route("/api/top", api.top),
        Route("/api/doc/{id}", api.doc),
        Route("/api/context/{id}", api.context),
        Route("/api/tail", api.tail),
        Route("/api/export", api.export),
        Route("/api/stats", api.stats),
        Route("/api/openapi.json", api.openapi),
        Mount("/static", app=StaticFiles(directory=str(static_dir), check_dir=False), name="static"),
    ]
    middleware = [Middleware(_TokenAuth, token=token)] if token else []
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={
        404: lambda request, exc: _error(404, f"no such path: {request.url.path}"),
        405: lambda request, exc: _error(405, "method not allowed"),
    })
    app.state.reader = reader
    return app
