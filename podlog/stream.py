"""``podlog stream``: the streaming sidecar. Re-streams files to stdout, unchanged, across rotation.

It replaces ``busybox tail -n+1 -f FILE`` in a pod: the app writes files into
an emptyDir, this copies their lines to stdout so ``kubectl logs`` and the
node agent see them. Unlike ``tail -f`` it follows a file renamed away and
recreated (finishing the old one first) and starts over when a file is
truncated. Only the stdlib and inotify_simple are imported: every pod pays
for this process, so it stays around 10 MB.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

from podlog.inputs.tail.follow import Followed
from podlog.inputs.tail.watch import Watcher

__all__ = ["stream_files"]

CHUNK = 64 * 1024


class _Stream:
    def __init__(self, path: str, prefix: bytes, from_head: bool) -> None:
        self.path = path
        self.prefix = prefix
        self.from_head = from_head
        self.current: Followed | None = None
        self.old: list[tuple[Followed, float]] = []  # rotated away, finishing
        self.pending = b""
        self.clock: Callable[[], float] = time.monotonic  # rotate_wait's clock; tests drive it

    def open(self, first: bool) -> None:
        f = Followed.open(self.path)
        if f is None:
            return
        f.pos = 0 if (self.from_head or not first) else f.size()
        self.current = f

    def pump(self, out: object, rotate_wait: float) -> bool:
        """Copy what is new; returns True if more may be waiting."""
        busy = False
        for rotated, _ in self.old:
            busy |= self._copy(rotated, out)
        now = self.clock()
        for item in list(self.old):
            if now - item[1] >= rotate_wait and not self._copy(item[0], out):
                item[0].close()
                self.old.remove(item)
        if self.current is None:
            self.open(first=False)
        f = self.current
        if f is None:
            return busy
        busy |= self._copy(f, out)
        state = f.path_state()
        if state != "same":
            self.old.append((f, now))
            self.current = None
            if state == "moved":
                self.open(first=False)
        elif f.truncated():
            f.pos = 0
            self.pending = b""
        return busy

    def _copy(self, f: Followed, out: object) -> bool:
        data = f.read(CHUNK)
        if not data:
            return False
        data = self.pending + data
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        if cut:
            lines = data[:cut]
            if self.prefix:
                lines = b"".join(self.prefix + line + b"\n" for line in lines[:-1].split(b"\n"))
            out.write(lines)  # type: ignore[attr-defined]
        return True


def stream_files(paths: list[str], from_head: bool, prefix: bool, poll: float = 0.5, rotate_wait: float = 5.0) -> int:
    """Follow ``paths`` until SIGTERM; returns the exit status."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    streams = [_Stream(p, f"[{p}] ".encode() if prefix else b"", from_head) for p in paths]
    watcher = Watcher()
    for s in streams:
        s.open(first=True)
        watcher.watch_dir(os.path.dirname(os.path.abspath(s.path)))
    out = sys.stdout.buffer
    try:
        while not stopping:
            busy = False
            for s in streams:
                busy |= s.pump(out, rotate_wait)
                if s.current is not None:
                    watcher.watch_file(os.path.realpath(s.current.path))
            out.flush()
            if not busy:
                watcher.wait(poll)
    except BrokenPipeError:
        return 1
    finally:
        for s in streams:
            if s.pending:
                out.write(s.prefix + s.pending + b"\n")
        try:
            out.flush()
        except BrokenPipeError:
            pass
    return 0
