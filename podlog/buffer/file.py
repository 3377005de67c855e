"""File buffer: chunks on disk, so a kill -9 or power loss loses nothing that was acknowledged.

One file per chunk, ``<created_ns>-<seq>.chunk``: a JSON header line
(``{"podlog_chunk":1,"tag":...,"created":...}``) then the records as NDJSON.
Each batch starts with a ``#`` line; one whose records know where they came
from (the batch's ``origin``, a file identity, and offsets) carries ``#{"source":...,"offsets":[...]}``
(the key predates the name ``origin`` and stays, so older chunk files replay), so a replayed
chunk still yields the same idempotent document ids (Elasticsearch ``_id``)
and a crash between a partial delivery and its retry creates no duplicate.
A put appends the batch's documents and, with ``fsync always``, fsyncs before
returning; only then does the runner acknowledge the input, so the durable
write *is* the ack and the tail checkpoint may move past those lines. A
delivered (or dead-lettered) chunk is deleted.

At start, leftover chunk files are replayed before anything else: their lines
were acknowledged to inputs already, so they must be delivered before being
deleted. A torn last line (kill -9 mid-write) is cut off and logged; it was
never acknowledged, so the input reads it again.

A write that fails (ENOSPC, EIO) is rolled back with ftruncate, logged, and
retried with backoff while the input waits: the input pauses, nothing is
acknowledged, and the chunk file never holds half a line.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable

import orjson

from podlog.batch import Batch
from podlog.buffer.ack import REPLAYED, Ack, SettleListener, Tally
from podlog.buffer.chunk import Chunk
from podlog.buffer.memory import BufferClosed, MemoryBuffer, SharedLimit
from podlog.buffer.options import BufferOptions

__all__ = ["FileBuffer", "FileChunk"]

log = logging.getLogger("podlog.buffer")

SUFFIX = ".chunk"
MAX_BACKOFF = 5.0


class FileChunk(Chunk):
    """A chunk whose records live in a file; ``batches`` is filled only while it is being flushed."""

    __slots__ = ("_tally", "fd", "file_size", "path", "records")

    def __init__(self, tag: str, created: float, path: str) -> None:
        super().__init__(tag, created)
        self.path = path
        self.fd = -1
        self.file_size = 0
        self.records = 0
        self._tally = Tally()  # records by source: its batches' acks were released once they were on disk

    def __len__(self) -> int:
        return self.records

    def tally(self) -> Tally:
        return self._tally


class FileBuffer(MemoryBuffer):
    durable = True

    def __init__(self, options: BufferOptions, path: str, shared: SharedLimit | None = None,
                 replay: bool = True) -> None:
        super().__init__(options, shared)
        self.path = path
        self._seq = 0
        self.replayed_chunks = self.replayed_records = 0
        if replay:
            self.replay()

    # --- start: replay what a previous run left --------------------------------------

    def replay(self, listener: SettleListener | None = None) -> None:
        """Queue the chunk files a previous run left. Done at start, not when building the
        engine, so ``podlog check`` never touches the files of a running agent.

        Their records settle as the source ``REPLAYED``, told to ``listener`` (the loss ledger)."""
        os.makedirs(self.path, exist_ok=True)
        with self._cond:
            self.replayed_chunks, self.replayed_records = self._replay(listener)

    def _replay(self, listener: SettleListener | None) -> tuple[int, int]:
        names = sorted(n for n in os.listdir(self.path) if n.endswith(SUFFIX))
        chunks = records = 0
        for name in names:
            chunk = self._recover(os.path.join(self.path, name))
            if chunk is None:
                continue
            if listener is not None:
                chunk.tally().credit(listener, REPLAYED, chunk.records)
            self._queue.append(chunk)
            self._account(chunk.byte_size)
            chunks += 1
            records += chunk.records
        if chunks:
            log.info("file buffer %s: replaying %d chunks (%d records) left by the previous run",
                     self.path, chunks, records)
        return chunks, records

    def _recover(self, path: str) -> FileChunk | None:
        """Read one leftover chunk file; cut a torn last line; None (and delete) if it holds nothing."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            log.error("file buffer: cannot read %s (%s): left in place, not replayed", path, exc.strerror)
            return None
        header_end = data.find(b"\n")
        header = _parse_header(data[:header_end]) if header_end >= 0 else None
        if header is None:
            log.warning("file buffer: %s has no complete header (killed while creating it): removed", path)
            _unlink(path)
            return None
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning("file buffer: %s ends with a torn line (%d bytes, never acknowledged): cut off",
                        path, len(data) - end)
            with open(path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        body = data[header_end + 1 : end]
        if not body:
            _unlink(path)
            return None
        chunk = FileChunk(str(header["tag"]), time.monotonic(), path)
        chunk.records = body.count(b"\n") - body.count(b"\n#") - body.startswith(b"#")
        chunk.byte_size = len(body)
        chunk.file_size = end
        return chunk

    # --- producer side -----------------------------------------------------------------

    def _open_chunk(self, tag: str) -> Chunk:
        chunk: list[FileChunk] = []
        self._retrying(lambda: chunk.append(self._create(tag)), f"create a chunk in {self.path}")
        return chunk[0]

    def _create(self, tag: str) -> FileChunk:
        self._seq += 1
        path = os.path.join(self.path, f"{time.time_ns():020d}-{self._seq:06d}{SUFFIX}")
        chunk = FileChunk(tag, time.monotonic(), path)
        header = orjson.dumps({"podlog_chunk": 1, "tag": tag, "created": time.time()}) + b"\n"
        fd = os.open(chunk.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            _write_all(fd, header)
            if self.options.fsync == "always":
                os.fsync(fd)
                _fsync_dir(self.path)  # the file's name must survive a power loss too
        except OSError:
            os.close(fd)
            _unlink(chunk.path)
            raise
        chunk.fd = fd
        chunk.file_size = len(header)
        return chunk

    def _size(self, batch: Batch) -> int:
        return batch.byte_size()  # what goes to disk: batches are not kept in memory

    def _append(self, chunk: Chunk, batch: Batch, size: int) -> Chunk:
        assert isinstance(chunk, FileChunk)
        data = _origin_line(batch) + b"\n".join(batch.docs) + b"\n"
        holder = [chunk]

        def attempt() -> None:
            if holder[0].fd < 0:  # flushed while we waited for disk space: start a new chunk
                holder[0] = self._create(batch.tag)
                self._staged[batch.tag] = holder[0]
            self._write(holder[0], data)

        self._retrying(attempt, f"write to {self.path}")
        chunk = holder[0]
        chunk.byte_size += size
        chunk.records += len(batch)
        chunk.tally().add(batch.ack, len(batch))
        return chunk

    def _write(self, chunk: FileChunk, data: bytes) -> None:
        try:
            _write_all(chunk.fd, data)
            if self.options.fsync == "always":
                os.fsync(chunk.fd)
        except OSError:
            os.ftruncate(chunk.fd, chunk.file_size)  # roll back: never half a line, never an unacked line
            raise
        chunk.file_size += len(data)

    def _retrying(self, action: Callable[[], None], what: str) -> None:
        """Run a disk write until it succeeds; while it fails the input waits (paused), nothing is acked."""
        wait = 0.2
        while True:
            try:
                action()
            except OSError as exc:
                self.write_errors += 1
                reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
                self.last_error = f"{what}: {reason}"
                log.error("file buffer %s: cannot %s: %s; input paused, retrying in %.1fs",
                          self.path, what, reason, wait)
                if self.blocked_since is None:
                    self.blocked_since = time.monotonic()
                self._cond.wait(wait)  # releases the lock: flushes go on and free space
                wait = min(wait * 2, MAX_BACKOFF)
                if self.closed or self.refusing:
                    self.blocked_since = None
                    raise BufferClosed from None
                continue
            if self.last_error:
                log.info("file buffer %s: writing again after: %s", self.path, self.last_error)
                self.last_error = ""
                self.blocked_since = None
            return

    def _enqueue(self, tag: str) -> None:
        chunk = self._staged.get(tag)
        if isinstance(chunk, FileChunk):
            _close(chunk)
        super()._enqueue(tag)

    # --- flush side ----------------------------------------------------------------------

    def take(self, timeout: float, flush_all: bool = False) -> Chunk | None:
        chunk = super().take(timeout, flush_all)
        if isinstance(chunk, FileChunk) and not chunk.batches:
            try:
                self._load(chunk)
            except OSError as exc:
                log.error("file buffer: cannot read %s (%s): kept for the next start", chunk.path, exc.strerror)
                with self._cond:
                    self.in_flight -= 1
                    self._account(-chunk.byte_size)
                    self._cond.notify_all()
                return None
        return chunk

    def _load(self, chunk: FileChunk) -> None:
        """Read the records back for a flush (only in-flight chunks are held in memory)."""
        with open(chunk.path, "rb") as f:
            data = f.read(chunk.file_size)
        body = data[data.find(b"\n") + 1 :]
        chunk.batches = _batches(chunk.tag, body.split(b"\n")[:-1])

    def done(self, chunk: Chunk) -> None:
        super().done(chunk)
        if isinstance(chunk, FileChunk):
            chunk.batches = []
            _unlink(chunk.path)

    def _discard(self, chunk: Chunk) -> None:
        if isinstance(chunk, FileChunk):
            _close(chunk)
            _unlink(chunk.path)

    def close(self) -> None:
        """Close open chunk files; what is left on disk is replayed at the next start."""
        super().close()
        with self._cond:
            for chunk in self._staged.values():
                if isinstance(chunk, FileChunk):
                    _close(chunk)


def _origin_line(batch: Batch) -> bytes:
    """The ``#`` line that starts each batch: its origin and offsets, or bare when it has none."""
    if batch.origin is None or batch.offsets is None or len(batch.offsets) != len(batch):
        return b"#\n"
    return b"#" + orjson.dumps({"source": batch.origin, "offsets": batch.offsets}) + b"\n"


def _batches(tag: str, lines: list[bytes]) -> list[Batch]:
    """Chunk lines back into batches; each ``#`` line starts one with its origin and offsets.

    The acks are no-ops: these records were acknowledged to their inputs when written.
    """
    out: list[Batch] = []
    docs: list[bytes] = []
    origin: dict[str, object] = {}

    def close() -> None:
        if docs:
            offsets = origin.get("offsets")
            offsets = offsets[: len(docs)] if isinstance(offsets, list) and len(offsets) >= len(docs) else None
            source = origin.get("source") if offsets is not None else None
            out.append(Batch(tag, docs=list(docs), ack=Ack(), origin=source, offsets=offsets))  # type: ignore[arg-type]
        docs.clear()

    for line in lines:
        if line.startswith(b"#"):
            close()
            try:
                parsed = orjson.loads(line[1:]) if len(line) > 1 else {}
            except orjson.JSONDecodeError:
                parsed = {}
            origin = parsed if isinstance(parsed, dict) else {}
        elif line:
            docs.append(line)
    close()
    return out


def _parse_header(line: bytes) -> dict[str, object] | None:
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(header, dict) or header.get("podlog_chunk") != 1 or "tag" not in header:
        return None
    return header


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _close(chunk: FileChunk) -> None:
    if chunk.fd >= 0:
        try:
            os.close(chunk.fd)
        except OSError:
            pass
        chunk.fd = -1


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.error("file buffer: cannot remove %s (%s): it will be delivered again at the next start",
                  path, exc.strerror)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
