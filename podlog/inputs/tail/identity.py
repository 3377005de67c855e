"""Which file is which: a known file after a restart, a truncated one, a copy of one, positions of files gone.

A path is not an identity: logs are renamed, truncated, copied and recreated
under the same name, and inodes are reused. These checks compare the
first bytes (a CRC of up to 256, kept with each position) and, for copies,
the bytes just before where the original was read to.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterable

from podlog.inputs.tail.checkpoint import Checkpoints, Entry
from podlog.inputs.tail.follow import Followed
from podlog.inputs.tail.tailed import TailedFile

__all__ = ["COPY_WINDOW", "PositionPurger", "copy_of", "next_window", "rewritten", "same_file"]

log = logging.getLogger("podlog.tail")
COPY_WINDOW = 512  # bytes kept per file to recognise a copy of it (copytruncate)


def same_file(f: Followed, entry: Entry, size: int) -> bool:
    """Whether a saved position belongs to this file: not past its end, and the same first bytes."""
    if entry.offset > size:
        return False
    if entry.fp_len:
        head = os.pread(f.fd, entry.fp_len, 0)
        return len(head) == entry.fp_len and zlib.crc32(head) == entry.fp
    return True


def rewritten(f: Followed, entry: Entry | None) -> bool:
    """copytruncate followed by fast writes can regrow the file past our offset before we look:
    the first bytes changing tells us anyway."""
    if entry is None or not entry.fp_len or f.pos < entry.fp_len:
        return False
    head = os.pread(f.fd, entry.fp_len, 0)
    return zlib.crc32(head) != entry.fp


def next_window(window: bytes, buf: bytes) -> bytes:
    """The last COPY_WINDOW bytes consumed once ``buf`` and its newline are: a short read keeps older bytes."""
    tail = buf[1 - COPY_WINDOW :]
    if len(tail) < COPY_WINDOW - 1:
        tail = (window + tail)[1 - COPY_WINDOW :]
    return tail + b"\n"


def copy_of(f: Followed, size: int, fp_len: int, fp: int, followed: Iterable[TailedFile],
            checkpoints: Checkpoints) -> tuple[str, int] | None:
    """(path, offset) of a followed file this new one is a copy of, as logrotate's copytruncate makes.

    Evidence: the same first bytes, and the same ``COPY_WINDOW`` bytes just before the offset the original
    was read to, at that offset. Without both the file is read from its head (duplicates, never loss).
    """
    for tf in followed:
        entry = checkpoints.entries.get(tf.f.key)
        states = [tf.before_truncation]
        if entry is not None:
            states.append((entry.fp_len, entry.fp, tf.window, tf.start))
        for state in states:
            if state is None:
                continue
            head_len, head_fp, window, end = state
            if (head_len, head_fp) != (fp_len, fp) or not fp_len or not window or not len(window) <= end <= size:
                continue
            if os.pread(f.fd, len(window), end - len(window)) == window:
                return tf.f.path, end
    return None


class PositionPurger:
    """Forgets positions of files no glob matches any more (rotated away, then deleted or moved out).

    Without it the pos_file grows with every rotation. A position is kept for ``keep_for`` seconds after
    its file was last seen, so a rename that a glob matches again on the next rescan still resumes.
    """

    def __init__(self, keep_for: float) -> None:
        self.keep_for = keep_for
        self._unseen: dict[str, float] = {}  # position key -> when its file was first missed by a rescan

    def purge(self, checkpoints: Checkpoints, followed: set[str], paths: list[str], now: float) -> None:
        """``followed``: keys of the files being read; ``paths``: other matched paths, whose keys count too."""
        seen = set(followed)
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            seen.add(f"{st.st_dev}:{st.st_ino}")
        for key in list(checkpoints.entries):
            if key in seen:
                self._unseen.pop(key, None)
            elif now - self._unseen.setdefault(key, now) >= self.keep_for:
                self._unseen.pop(key)
                checkpoints.forget(key)
                log.info("forgot the position of %s: no longer matched", key)
