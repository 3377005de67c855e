"""One followed file: identity, reads by position, and what happened to its path.

Shared by the tail input and ``podlog stream``, so it imports only the stdlib.
"""

from __future__ import annotations

import os
import zlib

__all__ = ["FINGERPRINT_BYTES", "Followed", "fingerprint", "first_line_id"]

FINGERPRINT_BYTES = 256


def fingerprint(fd: int, length: int = FINGERPRINT_BYTES) -> tuple[int, int]:
    """(bytes hashed, crc32) of the file's first bytes: tells a reused inode from the file we knew."""
    head = os.pread(fd, length, 0)
    return len(head), zlib.crc32(head)


def first_line_id(fd: int) -> tuple[str, bool]:
    """(crc32 of the file's first line (up to FINGERPRINT_BYTES), whether that line is complete).

    Told apart by this, two files that had the same inode (one deleted, the next given its inode) give
    their records different Elasticsearch ids; and it never changes while the file is appended to, so the
    same file read again (positions lost, replay) gives the same ids.
    """
    head = os.pread(fd, FINGERPRINT_BYTES, 0)
    nl = head.find(b"\n")
    if nl >= 0:
        head = head[: nl + 1]
    return f"{zlib.crc32(head):08x}", nl >= 0 or len(head) == FINGERPRINT_BYTES


class Followed:
    """An open file descriptor and our read position in it.

    Reads use ``pread`` at ``pos``, so the descriptor stays valid and readable
    after the path is renamed or unlinked: a rotated file is finished before it
    is left.
    """

    __slots__ = ("dev", "fd", "ino", "path", "pos")

    def __init__(self, path: str, fd: int, dev: int, ino: int, pos: int = 0) -> None:
        self.path = path
        self.fd = fd
        self.dev = dev
        self.ino = ino
        self.pos = pos

    @classmethod
    def open(cls, path: str) -> Followed | None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        st = os.fstat(fd)
        return cls(path, fd, st.st_dev, st.st_ino)

    @classmethod
    def try_open(cls, path: str) -> Followed | OSError:
        """Like ``open``, but says why a file could not be opened (no descriptor left, permissions)."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            return exc
        st = os.fstat(fd)
        return cls(path, fd, st.st_dev, st.st_ino)

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read(self, size: int = 65536) -> bytes:
        data = os.pread(self.fd, size, self.pos)
        self.pos += len(data)
        return data

    def path_state(self) -> str:
        """``same``, ``moved`` (path now names another file: rotation) or ``gone``."""
        try:
            st = os.stat(self.path)
        except OSError:
            return "gone"
        return "same" if (st.st_dev, st.st_ino) == (self.dev, self.ino) else "moved"

    def truncated(self) -> bool:
        """copytruncate: the file is now shorter than what we read."""
        return self.size() < self.pos

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
