"""The position file (``pos_file``): acknowledged offsets by file identity.

Keyed on ``dev:inode`` plus a fingerprint of the first bytes, so a reused
inode is not mistaken for the file we knew. Offsets enter it only when every
output has acknowledged the records before them (see ``Cursor``). Written
atomically (temp file, fsync, rename), so a kill -9 leaves either the old or
the new version, never a mix. A corrupt file is moved aside with a warning
and the agent starts safely (from the head: duplicates, not loss).

Fluentd's text pos_file (``path<TAB>position-hex<TAB>inode-hex``, position
``ffffffffffffffff`` for a file it stopped watching) is read too, so a migrating
user does not re-ship or skip what Fluentd already handled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Checkpoints", "Cursor", "Entry"]

log = logging.getLogger("podlog.tail")
UNWATCHED = 0xFFFFFFFFFFFFFFFF  # Fluentd's position of a file it no longer watches


@dataclass
class Entry:
    path: str
    offset: int
    fp_len: int = 0
    fp: int = 0


class Checkpoints:
    """In-memory table of acknowledged positions, persisted by ``save``."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.entries: dict[str, Entry] = {}
        self.corrupt = False
        self._fluentd: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._aside: str | None = None  # where a corrupt pos_file goes at the first save
        if path:
            self._load(path)

    def _load(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read pos_file %s (%s): starting without positions", path, exc.strerror)
            self.corrupt = True
            return
        if not raw.strip():
            return
        try:
            self.entries = _parse_json(raw) if raw.lstrip()[:1] == b"{" else self._parse_fluentd(raw)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            self._aside = f"{path}.corrupt-{int(time.time())}"
            log.warning(
                "pos_file %s is corrupt (%s); it will be kept as %s. Files will be read from the head: "
                "records may be delivered twice, none lost.", path, exc, self._aside,
            )
            self.entries = {}
            self.corrupt = True

    def _move_corrupt_aside(self) -> None:
        """Done at the first save, not at load, so ``podlog check`` never touches a running agent's file."""
        assert self.path is not None and self._aside is not None
        try:
            os.replace(self.path, self._aside)
        except OSError as exc:
            log.warning("cannot move the corrupt pos_file %s aside (%s): it will be overwritten", self.path, exc)
        self._aside = None

    def _parse_fluentd(self, raw: bytes) -> dict[str, Entry]:
        """Fluentd's in_tail lines are ``"%s\\t%016x\\t%016x\\n" % [path, pos, inode]``; an unwatched file's
        position is all ones (no position: the file is treated as never read)."""
        for number, line in enumerate(raw.decode().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise ValueError(f"line {number} is neither JSON nor Fluentd's path/position/inode")
            path, offset, inode = parts[0], int(parts[1], 16), int(parts[2], 16)
            if offset != UNWATCHED:
                self._fluentd[(path, inode)] = offset
        log.info("imported %d positions from a Fluentd pos_file", len(self._fluentd))
        return {}

    def lookup(self, key: str, path: str, ino: int) -> Entry | None:
        with self._lock:
            entry = self.entries.get(key)
        if entry is None and (path, ino) in self._fluentd:
            entry = Entry(path, self._fluentd.pop((path, ino)))
        return entry

    def set(self, key: str, entry: Entry) -> None:
        with self._lock:
            self.entries[key] = entry
            self._dirty = True

    def update(self, key: str, offset: int) -> None:
        with self._lock:
            entry = self.entries.get(key)
            if entry is not None and entry.offset != offset:
                entry.offset = offset
                self._dirty = True

    def forget(self, key: str) -> None:
        with self._lock:
            if self.entries.pop(key, None) is not None:
                self._dirty = True

    def save(self, force: bool = False) -> None:
        """Write the table atomically if it changed."""
        if not self.path:
            return
        with self._lock:
            if not (self._dirty or force):
                return
            body = orjson.dumps(
                {"version": 1, "files": {k: vars(e) for k, e in self.entries.items()}}, option=orjson.OPT_INDENT_2
            )
            self._dirty = False
        if self._aside is not None:
            self._move_corrupt_aside()
        tmp = f"{self.path}.tmp"
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with self._lock:
                self._dirty = True
            log.error("cannot write pos_file %s: %s (positions kept in memory, will retry)", self.path, exc)


def _parse_json(raw: bytes) -> dict[str, Entry]:
    data: Any = orjson.loads(raw)
    files = data["files"]
    out = {}
    for key, value in files.items():
        entry = Entry(str(value["path"]), int(value["offset"]), int(value.get("fp_len", 0)), int(value.get("fp", 0)))
        if entry.offset < 0:
            raise ValueError(f"negative offset for {key}")
        out[str(key)] = entry
    return out


class Cursor:
    """Commits a file's offsets in order as their batches are acknowledged.

    Batches of one file may be acknowledged out of order (parallel flushes,
    several outputs); the committed offset only moves over a prefix of fully
    acknowledged batches. ``generation`` changes on truncation so stale acks
    cannot move the new file's offset.
    """

    def __init__(self, checkpoints: Checkpoints, key: str, committed: int) -> None:
        self._checkpoints = checkpoints
        self.key = key
        self.committed = committed
        self.generation = 0
        self._pending: deque[list[Any]] = deque()  # [end_offset, done, generation]
        self._lock = threading.Lock()

    def track(self, end_offset: int) -> list[Any]:
        """Register a batch ending at ``end_offset``; returns the token its ack marks done."""
        token = [end_offset, False, self.generation]
        with self._lock:
            self._pending.append(token)
        return token

    def done(self, token: list[Any]) -> None:
        with self._lock:
            token[1] = True
            moved = False
            while self._pending and self._pending[0][1]:
                end, _, generation = self._pending.popleft()
                if generation == self.generation:
                    self.committed = end
                    moved = True
        if moved:
            self._checkpoints.update(self.key, self.committed)

    def reset(self) -> None:
        """The file was truncated: start over at 0; acks of older batches no longer count."""
        with self._lock:
            self.generation += 1
            self.committed = 0
        self._checkpoints.update(self.key, 0)

    @property
    def in_flight(self) -> int:
        return len(self._pending)
