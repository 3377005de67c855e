"""What the push inputs (http, forward, syslog) share: a server loop, a hand-off to the pipeline, limits.

Each push input runs one asyncio loop on its own thread, so 10,000 idle
connections cost a few KiB each instead of a thread each. ``emit`` may block
(a full buffer is backpressure), so batches go to the pipeline from a second
thread, the ``Handoff``, never from the loop. Records received and not yet
handed over are counted in bytes: over ``queue_limit`` the input pushes back
(HTTP answers 429, TCP inputs stop reading, UDP datagrams are dropped and
counted).

An answer to a client (an HTTP 200, a forward ``ack``) waits for the batch's
ack, which follows the engine's rule: with a file buffer the durable write,
with a memory buffer the delivery. A push client cannot be asked to send again
later the way a file is read again, so this is where "nothing lost" is kept.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from podlog.batch import Ack, Batch
from podlog.config.options import Option
from podlog.inputs._base import Emit, Input, Sampler

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.yaml_loader import LineDict

__all__ = ["Handoff", "PushInput", "PushOptions", "document", "now_rfc3339", "rfc3339"]

log = logging.getLogger("podlog.push")

_prefix_cache: dict[int, str] = {}


def rfc3339(sec: int, nsec: int = 0) -> str:
    """Seconds and nanoseconds since the epoch as RFC 3339 UTC with nanoseconds (seconds cached)."""
    prefix = _prefix_cache.get(sec)
    if prefix is None:
        if len(_prefix_cache) > 4096:
            _prefix_cache.clear()
        prefix = _prefix_cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{prefix}.{nsec:09d}Z"


def now_rfc3339() -> str:
    ns = time.time_ns()
    return rfc3339(ns // 1_000_000_000, ns % 1_000_000_000)


_DUMPS = orjson.dumps
_OPTS = orjson.OPT_NON_STR_KEYS


def _clean(value: Any) -> Any:
    """A record made JSON-safe: invalid UTF-8 replaced, bytes decoded, huge integers as strings."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_clean(k) if isinstance(k, (str, bytes)) else str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value)
    return value


def document(ts: str, record: dict[str, Any]) -> bytes:
    """The record as JSON with ``@timestamp`` first (a record's own ``@timestamp`` wins)."""
    if "@timestamp" in record:
        record = {"@timestamp": ts, **record}
        ts = ""
    try:
        body = _DUMPS(record, option=_OPTS)
    except TypeError:
        body = _DUMPS(_clean(record), option=_OPTS, default=str)
    if not ts:
        return body
    head = b'{"@timestamp":"' + ts.encode() + b'"'
    return head + (b"," + body[1:] if len(body) > 2 else b"}")


class PushOptions(Input.Options):
    """Listening, limits and TLS, the same for every push input."""

    port: int  # declared by each push input with its own default (24224, 9880, 5140)

    bind = Option("str", "0.0.0.0", doc="Address to listen on.")
    max_connections = Option("int", 1024, doc="Connections held at once; further ones are closed at once "
                             "(counted, logged).")
    idle_timeout = Option("duration", 120.0, doc="Close a connection that sends nothing for this long, and a "
                          "frame or request left half-sent for this long.", aliases=("keepalive_timeout",))
    ack_timeout = Option("duration", 60.0, doc="Longest wait for the pipeline to accept records before a client "
                         "is answered with an error (it sends again: at least once).")
    queue_limit = Option("size", 16 * 1024 * 1024, doc="Bytes received and not yet taken by the buffers; "
                         "beyond it the input pushes back (HTTP 429, TCP reads pause, UDP datagrams dropped).")
    tls = Option("bool", False, doc="Serve TLS (needs tls_cert_path and tls_key_path).")
    tls_cert_path = Option("str", "", doc="PEM certificate (chain) of the server.", aliases=("cert_path",))
    tls_key_path = Option("str", "", doc="PEM private key of the server.", aliases=("private_key_path",))
    tls_key_passphrase = Option("str", "", doc="Passphrase of the private key.",
                                aliases=("private_key_passphrase",))
    tls_ca_path = Option("str", "", doc="PEM CA bundle to verify client certificates with.", aliases=("ca_path",))
    tls_client_auth = Option("bool", False, doc="Require a client certificate signed by tls_ca_path.",
                             aliases=("client_cert_auth",))

    def validate(self, given: set[str]) -> None:
        super().validate(given)
        if self.tls and (not self.tls_cert_path or not self.tls_key_path):
            raise self.error("tls", "TLS needs tls_cert_path and tls_key_path")
        if self.tls and self.tls_client_auth and not self.tls_ca_path:
            raise self.error("tls_client_auth", "client certificate checks need tls_ca_path")


class Handoff:
    """Hands batches to ``emit`` on its own thread; counts the bytes waiting (backpressure)."""

    def __init__(self, emit: Emit, limit: int, name: str) -> None:
        self.emit = emit
        self.limit = limit
        self.pending = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Batch, int, Callable[[bool], None]] | None] = queue.SimpleQueue()
        self._room: Callable[[], None] = lambda: None
        self._thread = threading.Thread(target=self._run, name=f"handoff:{name}", daemon=True)
        self._thread.start()

    @property
    def full(self) -> bool:
        return self.pending >= self.limit

    def put(self, batch: Batch, size: int, failed: Callable[[bool], None]) -> None:
        with self._lock:
            self.pending += size
        self._queue.put((batch, size, failed))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            batch, size, failed = item
            try:
                self.emit(batch)
            except Exception:  # a bug in a filter must not stop the input for good
                log.exception("pipeline raised on a pushed batch (tag %s)", batch.tag)
                failed(False)
            with self._lock:
                self.pending -= size
            self._room()
        while True:  # stopped: what is still queued is not accepted, its clients get an error
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                return
            if left is not None:
                left[2](False)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)


class PushInput(Input):
    """Base of the push inputs: ``listen`` opens servers on ``self.loop``; ``accept`` hands a batch over."""

    class Options(PushOptions):
        pass

    options: Options

    @classmethod
    def fluentd(cls, options: LineDict, section: FluentdSection) -> None:
        """``<transport>``, ``<security>``, a syslog ``<parse>``: see ``inputs._push_fluentd``."""
        from podlog.inputs._push_fluentd import translate

        translate(options, section, cls.name)

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        self.read_records = 0
        self.read_bytes = 0
        self.connections = 0
        self.stats: Counter[str] = Counter()  # refused connections, bad frames, ... (also logged)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] | None = None  # where it listens (port 0 picks one: tests)
        self._servers: list[Any] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._handoff: Handoff | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._room: asyncio.Event | None = None
        self._stopping = False
        self._last_log: dict[str, float] = {}
        self.tls_context = self._tls_context()

    # --- lifecycle -----------------------------------------------------------------

    def run(self, emit: Emit) -> None:
        self._handoff = Handoff(emit, self.options.queue_limit, self.name)
        self._thread = threading.Thread(target=self._main, name=f"{self.name}:server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._handoff.stop()
            raise self.options.error("port", f"cannot listen on {self.options.bind}:{self.options.port}: "
                                     f"{self._error}") from self._error

    def _main(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        self._room = asyncio.Event()
        assert self._handoff is not None
        self._handoff._room = lambda: self._call(self._room_changed)
        try:
            loop.run_until_complete(self.listen())
        except Exception as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        log.info("%s input listening on %s:%d", self.name, *(self.address or ("?", 0)))
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close_all())
            loop.close()

    async def listen(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping = True
        if self.loop is not None and self._thread is not None and self._thread.is_alive():
            self._call(self.loop.stop)
            self._thread.join(timeout=30)
        if self._handoff is not None:
            self._handoff.stop()

    async def _close_all(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` on the loop from another thread; after stop there is nothing left to tell."""
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # loop closed
                pass

    def _room_changed(self) -> None:
        assert self._room is not None and self._handoff is not None
        if not self._handoff.full:
            self._room.set()

    # --- servers ----------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        o = self.options
        if not o.tls:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(o.tls_cert_path, o.tls_key_path, o.tls_key_passphrase or None)
            if o.tls_ca_path:
                ctx.load_verify_locations(o.tls_ca_path)
        except (OSError, ssl.SSLError) as exc:
            raise o.error("tls_cert_path", f"cannot load the TLS certificate or key: {exc}") from None
        if o.tls_client_auth:
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    async def serve_tcp(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                        limit: int = 64 * 1024) -> None:
        """Listen on TCP; each connection runs ``handler`` under the connection limit, closed at the end."""

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.connections >= self.options.max_connections or self._stopping:
                self.note("connection_refused", "too many connections (max_connections %d): closing a new one",
                          self.options.max_connections)
                writer.transport.abort()
                return
            self.connections += 1
            self._writers.add(writer)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
                pass  # the client went away or idled out: nothing was accepted from the unfinished frame
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("%s input: a connection failed", self.name)
            finally:
                self.connections -= 1
                self._writers.discard(writer)
                if task is not None:
                    self._tasks.discard(task)
                writer.transport.abort()

        server = await asyncio.start_server(connected, self.options.bind, self.options.port, limit=limit,
                                            ssl=self.tls_context, backlog=4096,
                                            ssl_handshake_timeout=self.options.idle_timeout if self.tls_context
                                            else None)
        self._servers.append(server)
        self.address = server.sockets[0].getsockname()[:2]

    async def read(self, reader: asyncio.StreamReader, n: int = 256 * 1024) -> bytes:
        """Up to ``n`` bytes, or TimeoutError after ``idle_timeout`` of silence."""
        return await asyncio.wait_for(reader.read(n), self.options.idle_timeout)

    # --- handing records over --------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """The pipeline is not keeping up (buffers full): push back."""
        return self._handoff is None or self._handoff.full

    async def room(self) -> None:
        """Wait until the hand-off has room (TCP inputs stop reading meanwhile)."""
        assert self._room is not None
        while self.busy and not self._stopping:
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), 0.5)
            except TimeoutError:
                pass

    def submit(self, tag: str, docs: list[bytes], size: int) -> asyncio.Future[bool]:
        """Hand records over from the loop; the future is True once they are acknowledged, False if refused."""
        assert self.loop is not None and self._handoff is not None
        self.read_records += len(docs)
        self.read_bytes += size
        future: asyncio.Future[bool] = self.loop.create_future()

        def settle(ok: bool) -> None:
            if not future.done():
                future.set_result(ok)

        def done(ack: Ack) -> None:
            self._call(settle, True)

        def failed(ok: bool) -> None:
            self._call(settle, ok)

        self._handoff.put(Batch(tag, docs=docs, ack=Ack(done)), size, failed)
        return future

    async def accept(self, tag: str, docs: list[bytes], size: int, wait: bool) -> bool:
        """Hand records over; with ``wait``, True once acknowledged (False: timed out, refused or stopping)."""
        if not docs:
            return True
        future = self.submit(tag, docs, size)
        if not wait:
            return True
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.options.ack_timeout)
        except TimeoutError:
            self.note("ack_timeout", "records not accepted within ack_timeout (%.0fs): client answered with an "
                      "error, it will send again", self.options.ack_timeout)
            return False

    def status(self) -> dict[str, Any]:
        return {"connections": self.connections, "refused": dict(self.stats)}

    # --- dry runs (podlog check --input) ------------------------------------------------------

    def sampler(self, tag: str | None, path: str) -> Sampler | None:
        if tag is not None and not self.may_tag(tag):
            return None
        own = self.source_tag()
        return _PushSampler(self, tag or own or "sample", own_tag=bool(own))

    def source_tag(self) -> str:
        """The tag this input's records start from; empty when its clients choose it."""
        return ""

    def may_tag(self, tag: str) -> bool:
        """Whether records of this input can carry ``tag`` (clients choose it: any)."""
        return True

    def sample(self, line: bytes, tag: str) -> tuple[str, list[bytes]]:
        """A sample line as a client would send it: a JSON object (or text, as ``message``) under ``tag``."""
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            record = {"message": line.decode("utf-8", "replace")}
        return tag, [document(now_rfc3339(), record)]

    def note(self, what: str, message: str, *args: Any) -> None:
        """Count a refused client or frame and log it, at most every 10 s per kind (a flood stays quiet)."""
        self.stats[what] += 1
        now = time.monotonic()
        if now - self._last_log.get(what, -1e9) >= 10.0:
            self._last_log[what] = now
            log.warning(f"%s input: {message} (%d so far)", self.name, *args, self.stats[what])


class _PushSampler(Sampler):
    """Each sample line as a client would send it (see ``PushInput.sample``)."""

    def __init__(self, owner: PushInput, tag: str, own_tag: bool) -> None:
        super().__init__(tag, own_tag)
        self.owner = owner

    def decode(self, line: bytes) -> tuple[str, list[bytes]]:
        return self.owner.sample(line, self.tag)
