"""The state of one followed file: where it is read to, its framer (the unfinished line), its codec and cursor."""

from __future__ import annotations

import os
import time

from podlog.codecs.container import LineCodec
from podlog.codecs.framing import LineFramer, LineLimit
from podlog.inputs.tail.checkpoint import Cursor
from podlog.inputs.tail.follow import Followed

__all__ = ["TailedFile"]


class TailedFile:
    """A followed file with its line assembly, envelope codec and cursor."""

    def __init__(self, f: Followed, tag: str, codec: LineCodec | None, cursor: Cursor,
                 limit: LineLimit | None = None, now: float | None = None) -> None:
        self.f = f
        self.tag = tag
        self.codec = codec                # None until the first line tells the envelope
        self.cursor = cursor
        self.realpath = os.path.realpath(f.path)
        self.framer = LineFramer(limit or LineLimit(), f.pos, f.path)  # lines cut at newlines and at the limit
        self.last_data = time.monotonic() if now is None else now  # now: the tail input's clock
        self.left_at: float | None = None  # when rotation/deletion was seen
        self.at_eof = False
        self.deleted = False
        self.seen: tuple[int, int, int, int] | None = None  # (dev, ino, size, mtime_ns) at the last look
        self.window = b""                 # the last bytes consumed (up to ``start``): recognises copies
        self.source: str | None = None    # its records' source (ids): dev:inode and its first line's crc
        self.before_truncation: tuple[int, int, bytes, int] | None = None  # (fp_len, fp, window, start)
        self.fragments_since: dict[int, float] = {}  # a held CRI/docker fragment's offset -> when first seen held

    @property
    def start(self) -> int:
        """Offset of the next line: everything before it is read (and framed)."""
        return self.framer.start
