"""The store writer in a process of its own, so the agent's interpreter lock only reads, parses and encodes.

Turning a record into tantivy's columns costs several µs of Python per row, as much as the rest of the agent
together; in one process both share one interpreter lock, so one core. Here the agent sends the encoded
records (the chunk's NDJSON documents, packed with msgpack) down a pipe and a child process (``python -m
podlog.store.process``) builds, adds and commits them with the ordinary :class:`StoreWriter`.

Acknowledgement stays tied to durability: every chunk sent is a numbered message; the child answers
``C <n>`` once the commit holding message n is durable (``F <n> <reason>`` if that commit or the add failed),
and only then does the output's settle say delivered. A child that dies (kill -9, a tantivy panic) fails every
message it has not answered: the delivery layer writes those chunks again into a new child; what was answered
is committed, so nothing acknowledged is lost either way.

The child never outlives the agent: it reads its messages from a pipe only the agent holds, and at end of file
without a goodbye (the agent died) it exits at once without committing (those chunks were never acknowledged:
the restarted agent sends them again, so committing them would only duplicate them). An orderly stop sends the
goodbye (message 0): the child commits what it holds, answers, and exits.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, Any, BinaryIO

import msgpack

__all__ = ["WriterProcess"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!QI")  # message number, payload length
_GOODBYE = 0
_PIPE_SIZE = 1 << 20  # a bigger pipe: fewer wake-ups while the child catches up
_F_SETPIPE_SZ = 1031


class WriterProcess:
    """The agent's side: sends chunks, tracks which are durable. Same calls as :class:`StoreWriter` uses in
    the output (``add_batches``, ``wait``, ``close``)."""

    def __init__(self, config: dict[str, Any], *, restart_delay: float = 1.0) -> None:
        self.config = config
        self.restart_delay = restart_delay
        self.path = config["path"]
        self._send = threading.Lock()       # one message at a time on the pipe, numbered in order
        self._cond = threading.Condition()  # guards the fields below
        self._proc: subprocess.Popen[bytes] | None = None
        self._outstanding: dict[int, int] = {}  # chunk number -> pid of the child that has it
        self._results: dict[int, str | None] = {}
        self._next = 0
        self._spawned = 0.0
        self._closing = False
        self.restarts = 0
        self._ready = threading.Event()

    # --- life of the child -------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the child and wait until it holds the store open (readers may open it right after)."""
        with self._send:
            self._spawn()
            proc = self._proc
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready.is_set():
                if proc is None or proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the store writer process for {self.path} did not start (see the log above)")
                self._cond.wait(0.1)

    def _spawn(self) -> None:
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        env = dict(os.environ)  # the child imports this very podlog, installed or not
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        proc = subprocess.Popen([sys.executable, "-m", "podlog.store.process", json.dumps(self.config), str(level)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True, env=env)
        try:
            import fcntl

            fcntl.fcntl(proc.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)  # type: ignore[union-attr]
        except OSError:
            pass  # the default 64 KiB pipe works too
        self._proc = proc
        self._spawned = time.monotonic()
        threading.Thread(target=self._answers, args=(proc,), name="store-writer-answers", daemon=True).start()

    def _answers(self, proc: subprocess.Popen[bytes]) -> None:
        """Reads the child's answers; when it ends, fails whatever it had not answered."""
        assert proc.stdout is not None
        for line in proc.stdout:
            kind, _, rest = line.decode("utf-8", "replace").rstrip("\n").partition(" ")
            number, _, reason = rest.partition(" ")
            if kind not in ("R", "C", "F") or not number.isdigit():
                log.error("store writer process %d said something unexpected: %r", proc.pid, line[:200])
                continue
            with self._cond:
                if kind == "R":  # the store is open
                    self._ready.set()
                    self._cond.notify_all()
                    continue
                n = int(number)
                if self._outstanding.get(n) == proc.pid:
                    del self._outstanding[n]
                    self._results[n] = None if kind == "C" else (reason or "store writer failed")
                    self._cond.notify_all()
        code = proc.wait()
        proc.stdout.close()
        with self._cond:
            lost = [n for n, pid in self._outstanding.items() if pid == proc.pid]  # not a newer child's
            for n in lost:
                self._results[n] = f"store writer process exited with code {code} before committing"
                del self._outstanding[n]
            self._cond.notify_all()
            closing = self._closing
        if not closing or code:
            log.error("store writer process %d exited with code %s; %d chunks not yet committed are written "
                      "again into a new one", proc.pid, code, len(lost))

    # --- writing -------------------------------------------------------------------------------------------

    def add_batches(self, tag: str, batches: Iterable[tuple[list[bytes], str | None, list[int] | None]]) -> int:
        """Send a chunk; returns its number for ``wait``. Raises if there is no child to take it (the output
        answers retry)."""
        payload = msgpack.packb([tag, [[docs, source, offsets] for docs, source, offsets in batches]])
        with self._send:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                if self._closing:
                    raise RuntimeError("store writer is closing")
                if time.monotonic() - self._spawned < self.restart_delay:
                    raise RuntimeError("store writer process is restarting")
                self.restarts += 1
                if proc is not None:
                    _close_quietly(proc.stdin)
                self._spawn()
                proc = self._proc
            assert proc is not None and proc.stdin is not None
            with self._cond:
                self._next += 1
                number = self._next
                self._outstanding[number] = proc.pid
            try:
                proc.stdin.write(_HEADER.pack(number, len(payload)))
                proc.stdin.write(payload)
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                with self._cond:
                    self._outstanding.pop(number, None)
                raise RuntimeError(f"store writer process is gone ({exc})") from exc
        return number

    def wait(self, number: int, timeout: float) -> str | None:
        """Block until chunk ``number`` is committed: None when durable, else the reason it is not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while number not in self._results:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._outstanding.pop(number, None)  # a late answer is dropped; the chunk is written again
                    return "store commit did not happen in time"
                self._cond.wait(min(left, 1.0))
            return self._results.pop(number)

    def close(self, timeout: float = 60.0) -> None:
        """Goodbye: the child commits what it holds, answers and exits."""
        with self._send:
            self._closing = True
            proc = self._proc
            if proc is None:
                return
            try:
                assert proc.stdin is not None
                proc.stdin.write(_HEADER.pack(_GOODBYE, 0))
            except (BrokenPipeError, OSError, ValueError):
                pass  # already gone
            _close_quietly(proc.stdin)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("store writer process %d did not stop in %.0f s; killing it", proc.pid, timeout)
                proc.kill()
                proc.wait()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None


def _close_quietly(stream: IO[bytes] | None) -> None:
    """Close our end of a pipe whose reader may be gone (what is still buffered for it is dropped)."""
    if stream is None:
        return
    try:
        stream.close()
    except OSError:
        try:
            os.close(stream.fileno())  # the flush failed: release the descriptor anyway
        except (OSError, ValueError):
            pass


# --- the child ---------------------------------------------------------------------------------------------

def _read_exactly(stream: BinaryIO, n: int) -> bytes | None:
    data = stream.read(n)
    return data if data is not None and len(data) == n else None


# A killed agent's child exits at the end of its pipe, at once or after the commit it is in: seconds at most.
# Longer, and the lock is another live writer's (a second `podlog up` on the same data): say so soon.
_LOCK_WAIT = 10.0


def _open_writer(config: dict[str, Any]) -> Any:
    """The StoreWriter, waiting a little for the lock a previous writer (a child of a killed agent, still
    exiting) may hold."""
    from podlog.store.schema import Layout
    from podlog.store.writer import StoreWriter

    layout = config.pop("layout")
    deadline = time.monotonic() + _LOCK_WAIT
    said = False
    while True:
        try:
            return StoreWriter(config["path"], Layout(**layout), **{k: v for k, v in config.items() if k != "path"})
        except ValueError as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            if not said:
                log.warning("store %s is locked by another writer; waiting up to %.0f s for it to let go",
                            config["path"], _LOCK_WAIT)
                said = True
            time.sleep(0.2)


def child_main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    for name in ("SIGINT", "SIGTERM"):  # the agent decides when this ends (goodbye or its end of the pipe)
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    logging.basicConfig(level=argv[1] if len(argv) > 1 else "INFO", stream=sys.stderr,
                        format="%(asctime)s %(levelname)s store-writer[%(process)d] %(name)s: %(message)s")
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # stray prints go to the log, never into the answers
    source = sys.stdin.buffer
    say = threading.Lock()

    def answer(text: str) -> None:
        with say:
            answers.write(text.encode("utf-8", "replace") + b"\n")

    writer = _open_writer(config)
    writer.start()
    answer("R 0")
    waiting: queue.Queue[tuple[int, int] | None] = queue.Queue()

    def report() -> None:
        """Answers each message once the commit holding it is durable, in the order they came."""
        while (item := waiting.get()) is not None:
            number, generation = item
            failure = writer.wait(generation, timeout=3600)
            answer(f"C {number}" if failure is None else f"F {number} {failure}".replace("\n", " "))

    reporter = threading.Thread(target=report, name="store-answers", daemon=True)
    reporter.start()
    unpack = msgpack.unpackb
    while True:
        header = _read_exactly(source, _HEADER.size)
        if header is None:  # the agent is gone without a goodbye: nothing it could still acknowledge
            os._exit(0)
        number, size = _HEADER.unpack(header)
        if number == _GOODBYE:
            break
        payload = _read_exactly(source, size)
        if payload is None:
            os._exit(0)
        try:
            tag, batches = unpack(payload)  # [[docs, source, offsets], ...]: what add_batches takes
            generation = writer.add_batches(tag, batches)
        except Exception as exc:
            log.exception("store writer: chunk %d not added", number)
            answer(f"F {number} store writer: {type(exc).__name__}: {exc}".replace("\n", " "))
            continue
        waiting.put((number, generation))
    writer.commit()  # everything received is durable before the answers end, then the writer lock goes
    waiting.put(None)
    reporter.join()
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
