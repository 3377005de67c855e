"""Framing: bytes cut into lines at newlines, fragments joined into lines, and the one line size limit.

A line reaches the codec in one of two ways, and the same ``LineLimit`` (the tail's ``max_line_size`` and
``max_line_action``) applies to both:

* ``LineFramer``: a file's reads cut at newlines. A line that outgrows the limit before its newline comes is
  emitted in pieces as it grows (``split``: numbered in ``podlog.split``) or once, cut (``truncate``: the rest
  is dropped on purpose and counted in the debug log).
* ``Fragments``: the pieces a container runtime cut a long line into (CRI ``P`` lines, docker json-file logs
  without a trailing newline), joined per stream until the one that ends the line; past the limit what is
  held is emitted as a piece, marked the same way.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from podlog.codecs.records import Records, now_rfc3339

__all__ = ["Fragments", "LineFramer", "LineLimit", "LineSink"]

log = logging.getLogger(__name__)

_DROPPING = -1  # in Fragments.pieces: the stream's line was truncated, its remaining fragments are dropped


class LineLimit:
    """The longest line kept whole (``size`` bytes, 0: no limit) and what becomes of a longer one: split into
    numbered pieces, or ``truncate``: the first piece kept, the rest dropped."""

    __slots__ = ("size", "truncate")

    def __init__(self, size: int = 0, truncate: bool = False) -> None:
        self.size = size
        self.truncate = truncate


class LineSink(Protocol):
    """What a framer hands lines to: the file's codec."""

    def decode(self, lines: list[bytes], base: int, docs: list[bytes], offsets: list[int],
               read_time: bytes | None = None) -> None: ...

    def flags_record(self, msg: bytes, start: int, docs: list[bytes], offsets: list[int], flags: dict[str, Any],
                     read_time: bytes | None = None) -> None: ...


class LineFramer:
    """A file's bytes as read, cut into complete lines; the unfinished last line is kept until its newline."""

    __slots__ = ("limit", "parts", "parts_len", "path", "skipping", "split_index", "start")

    def __init__(self, limit: LineLimit, start: int = 0, path: str = "") -> None:
        self.limit = limit
        self.path = path                  # for the log line of dropped bytes
        self.parts: list[bytes] = []      # bytes after the last newline
        self.parts_len = 0
        self.start = start                # offset of parts[0]: the next line's
        self.split_index = 0              # >0: the next line continues a line cut at the limit
        self.skipping = False             # truncate: dropping the rest of a cut line

    def reset(self, start: int = 0) -> None:
        """Start again at ``start`` (a truncated file): nothing unfinished, nothing cut."""
        self.parts, self.parts_len, self.start, self.skipping, self.split_index = [], 0, start, False, 0

    @property
    def unfinished(self) -> bool:
        """Bytes after the last newline are waiting for theirs."""
        return bool(self.parts)

    def push(self, data: bytes) -> tuple[bytes, int] | None:
        """One read taken in: the complete lines it ends (joined, without their last newline) and their
        offset, or None when it ends no line (then ``overlong`` says whether the unfinished one must be cut)."""
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            self.parts.append(data)
            self.parts_len += len(data)
            return None
        if self.parts:
            self.parts.append(data[:last_nl])
            buf = b"".join(self.parts)
        else:
            buf = data[:last_nl]
        base = self.start
        rest = data[last_nl + 1 :]
        self.parts = [rest] if rest else []
        self.parts_len = len(rest)
        self.start = base + len(buf) + 1
        return buf, base

    def overlong(self) -> bool:
        """The unfinished line already outgrew the limit."""
        return bool(self.limit.size) and self.parts_len > self.limit.size

    def decode(self, sink: LineSink, buf: bytes, base: int, docs: list[bytes], offsets: list[int]) -> list[bytes]:
        """Documents of the lines in ``buf`` (from ``push``); returns the lines (the first one tells a new
        file's envelope)."""
        lines = buf.split(b"\n")
        self.decode_lines(sink, lines, base, len(buf) > self.limit.size, docs, offsets)
        return lines

    def decode_lines(self, sink: LineSink, lines: list[bytes], base: int, long: bool, docs: list[bytes],
                     offsets: list[int]) -> None:
        """``long``: the lines together are longer than the limit, so one of them may be (checked only then)."""
        limit = self.limit.size
        if self.skipping or self.split_index or (limit and long and max(map(len, lines)) > limit):
            self._long_lines(sink, lines, base, docs, offsets)
        else:
            sink.decode(lines, base, docs, offsets)

    def _long_lines(self, sink: LineSink, lines: list[bytes], off: int, docs: list[bytes], offs: list[int]) -> None:
        """The slow path for lines over the limit and continuations of cut lines."""
        limit = self.limit.size
        now = now_rfc3339()
        for line in lines:
            start = off
            off += len(line) + 1
            if self.skipping:
                self.skipping = False  # the rest of a truncated line: dropped on purpose, counted
                log.debug("dropped %d bytes of a truncated line in %s", len(line), self.path)
                continue
            if self.split_index or (limit and len(line) > limit):
                self._pieces(sink, line, start, docs, offs, now, last=True)
                continue
            sink.decode([line], start, docs, offs)

    def _pieces(self, sink: LineSink, data: bytes, start: int, docs: list[bytes], offs: list[int], now: bytes,
                last: bool) -> bytes:
        """Cut ``data`` at the limit; returns the unfinished remainder when not ``last``."""
        limit = self.limit.size or len(data)
        while len(data) > limit or (last and data):
            piece, data = data[:limit], data[limit:]
            if self.limit.truncate:
                sink.flags_record(piece, start, docs, offs, {"truncated": True}, now)
                return b""
            sink.flags_record(piece, start, docs, offs, {"split": self.split_index}, now)
            self.split_index += 1
            start += len(piece)
        if last:
            self.split_index = 0
        return data

    def cut(self, sink: LineSink, docs: list[bytes], offs: list[int]) -> None:
        """The unfinished line outgrew the limit: emit what there is of it, marked; keep only the remainder."""
        data = b"".join(self.parts)
        if self.skipping:
            rest = b""
        elif self.limit.truncate:
            sink.flags_record(data[: self.limit.size], self.start, docs, offs, {"truncated": True})
            rest = b""
            self.skipping = True
        else:
            rest = self._pieces(sink, data, self.start, docs, offs, now_rfc3339(), last=False)
        self.start += len(data) - len(rest)
        self.parts = [rest] if rest else []
        self.parts_len = len(rest)

    def take_unfinished(self) -> tuple[bytes, int] | None:
        """The unfinished last line and its offset, taken as if its newline had come (timeout, end of file)."""
        if not self.parts:
            return None
        data = b"".join(self.parts)
        base = self.start
        self.parts, self.parts_len = [], 0
        self.start = base + len(data)
        return data, base

    def last_line(self, sink: LineSink, data: bytes, base: int, docs: list[bytes], offs: list[int]) -> None:
        """Documents of a line from ``take_unfinished``."""
        if self.skipping:
            self.skipping = False  # the end of a truncated line: dropped on purpose
        elif self.split_index:
            self._pieces(sink, data, base, docs, offs, now_rfc3339(), last=True)
        else:
            sink.decode([data], base, docs, offs)


class Fragments:
    """A file's container-runtime fragments held per stream (``held``: stream -> first fragment's offset,
    fragments, time) until the fragment that ends the line; ``pieces``: streams whose line was cut at the
    limit -> pieces emitted so far."""

    __slots__ = ("held", "limit", "pieces")

    def __init__(self, limit: LineLimit) -> None:
        self.limit = limit
        self.held: dict[bytes, tuple[int, list[bytes], bytes]] = {}
        self.pieces: dict[bytes, int] = {}

    def busy(self) -> set[bytes]:
        """Streams with fragments held or a line being cut: their next line takes the general path."""
        return {*self.held, *self.pieces}

    def hold(self, stream: bytes, starts: list[int], i: int, msg: bytes, ts: bytes, records: Records) -> None:
        """Keep fragment ``i`` (at ``starts[i]``) until its line ends; past the limit what is held goes to
        ``records`` as a piece, at ``i`` with the first fragment's offset (``starts[i]`` is set to it)."""
        if self.pieces.get(stream) == _DROPPING:
            return  # the rest of a truncated line: dropped on purpose, as for a raw line in truncate mode
        held = self.held.get(stream)
        if held is None:
            held = self.held[stream] = (starts[i], [msg], ts)
        else:
            held[1].append(msg)
        size = self.limit.size
        if size and sum(map(len, held[1])) > size:
            first, parts, ts = self.held.pop(stream)
            n = self.pieces.get(stream, 0)
            self.pieces[stream] = _DROPPING if self.limit.truncate else n + 1
            starts[i] = first
            data = b"".join(parts)
            if self.limit.truncate:
                records.add_cut(i, ts, stream, data[:size], {"truncated": True})
            else:
                records.add_cut(i, ts, stream, data, {"split": n})

    def end(self, stream: bytes, starts: list[int], i: int, msg: bytes, ts: bytes, records: Records) -> None:
        """Line ``i`` ends ``stream``'s line: joined with the fragments held (then at the first one's offset and
        time) and added to ``records``, marked if it is the last piece of a cut line, dropped if truncated."""
        held = self.held.pop(stream, None)
        if held is not None:
            first, parts, ts = held
            parts.append(msg)
            msg = b"".join(parts)
            starts[i] = first
        n = self.pieces.pop(stream, None)
        if n is None:  # Records.add, inlined
            records.at.append(i)
            records.time.append(ts)
            records.stream.append(stream)
            records.message.append(msg)
        elif n != _DROPPING:
            records.add_cut(i, ts, stream, msg, {"split": n})

    def held_from(self) -> int | None:
        """Offset of the oldest fragment held: the checkpoint must not pass it."""
        return min(first for first, _, _ in self.held.values()) if self.held else None

    def offsets(self) -> dict[bytes, int]:
        """Streams with a fragment waiting for its line's end, and the offset it starts at."""
        return {stream: first for stream, (first, _, _) in self.held.items()}

    def take(self, streams: set[bytes] | None = None) -> list[tuple[bytes, int, bytes, bytes, int | None]]:
        """The held lines of ``streams`` (all without) taken out as they are, by stream: (stream, first offset,
        joined fragments, time, pieces of the line emitted before or None)."""
        out = []
        for stream, (first, parts, ts) in sorted(self.held.items()):
            if streams is None or stream in streams:
                del self.held[stream]
                out.append((stream, first, b"".join(parts), ts, self.pieces.pop(stream, None)))
        if streams is None:
            self.pieces.clear()
        return out

    def reset(self) -> None:
        """Forget everything held (file truncated)."""
        self.held.clear()
        self.pieces.clear()
