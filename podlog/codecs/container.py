"""Container log envelopes (CRI and docker json-file) decoded into documents, a read at a time.

This is the agent's hot path, split by concern; ``LineCodec`` is the per-file facade the tail input,
``podlog check --input`` and the dry run use:

* ``cri`` and ``docker``: the envelopes, their fast loops and their fragments;
* ``framing``: lines cut at newlines, fragments joined, and the one line size limit (``LineLimit``);
* ``records``: the documents, spliced from constant per-file fragments or built the careful way;
* ``multiline``: events assembled from the records the envelopes give, before they are built.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from podlog.codecs import cri, docker
from podlog.codecs.framing import Fragments, LineLimit
from podlog.codecs.records import DocumentsFn, ParseFn, RecordBuilder, Records, now_rfc3339

if TYPE_CHECKING:  # only a source with multiline rules loads them (and their options)
    from podlog.codecs.multiline import Assembler

__all__ = ["DocumentsFn", "LineCodec", "ParseFn", "detect_format", "now_rfc3339"]


def detect_format(line: bytes) -> str:
    """Guess a file's envelope from one line: docker, cri, or none."""
    if line.startswith(b'{"log":'):
        return "docker" if docker.is_docker(line) else "none"
    return "cri" if cri.is_cri(line) else "none"


class LineCodec:
    """Per-file state: the envelope, the fragments held, the record builder and the multiline events.

    ``fields`` are constant per file (e.g. kubernetes metadata, the path key); they are serialised once.
    ``lift_json`` splices JSON object payloads into the document; ``parse`` (a parser's batch function)
    handles the rest. ``limit`` is the tail's line size limit, which joined fragments obey too.
    """

    def __init__(
        self,
        fmt: str,
        fields: dict[str, Any] | None = None,
        message_key: str = "message",
        lift_json: bool = False,
        parse: ParseFn | None = None,
        reserved: frozenset[str] = frozenset(),
        limit: LineLimit | None = None,
    ) -> None:
        self.format = fmt
        self.builder = RecordBuilder(fields, message_key, lift_json, parse, reserved)
        self.limit = limit or LineLimit()
        self.fragments = Fragments(self.limit)
        self.multiline: Assembler | None = None  # set by the source: events joined after the fragments

    # --- offsets -----------------------------------------------------------------

    def held_from(self) -> int | None:
        """Offset of the oldest fragment (or open multiline event) still waiting for its end; the checkpoint
        must not pass it."""
        event = self.multiline.held_from() if self.multiline is not None else None
        first = self.fragments.held_from()
        if first is None:
            return event
        return first if event is None else min(first, event)

    def reset(self) -> None:
        """Forget held fragments (file truncated)."""
        self.fragments.reset()
        if self.multiline is not None:
            self.multiline.reset()

    # --- decoding ----------------------------------------------------------------

    def decode(
        self, lines: list[bytes], base: int, docs: list[bytes], offsets: list[int], read_time: bytes | None = None
    ) -> None:
        """Append one document per complete record in ``lines`` (which start at offset ``base``)."""
        if self.multiline is not None:  # a general path of its own: the fast loops stay as they are
            recs, starts = self.records(lines, base, read_time)
            self.multiline.decode(self, recs, starts, docs, offsets)
        elif self.format == "cri":
            cri.decode(self.builder, self.fragments, lines, base, docs, offsets)
        elif self.format == "docker":
            docker.decode(self.builder, self.fragments, lines, base, docs, offsets)
        else:
            docs.extend(self.builder.plain(lines, read_time or now_rfc3339()))
            starts = cri.line_starts(lines, base)
            starts.pop()
            offsets.extend(starts)

    def records(self, lines: list[bytes], base: int, read_time: bytes | None = None) -> tuple[Records, list[int]]:
        """Every record of ``lines`` with its envelope off and fragments joined (none built), and the lines'
        offsets (a record's ``at`` indexes them)."""
        starts = cri.line_starts(lines, base)
        if self.format == "cri":
            return cri.records(self.fragments, lines, range(len(lines)), starts), starts
        if self.format == "docker":
            return docker.records(self.fragments, lines, starts, [None] * len(lines)), starts
        return Records.plain(lines, read_time or now_rfc3339()), starts

    # --- end of input ----------------------------------------------------------------

    def has_fragments(self) -> bool:
        return bool(self.fragments.held)

    def held_fragments(self) -> dict[bytes, int]:
        """Streams with a fragment waiting for its line's end, and the offset it starts at."""
        return self.fragments.offsets()

    def flush_partials(self, docs: list[bytes], offsets: list[int], streams: Iterable[bytes] | None = None) -> None:
        """Emit held fragments as they are (file gone, or ``streams`` waited too long): better incomplete than lost."""
        chosen = None if streams is None else set(streams)
        if self.multiline is not None:  # fragments join their stream's open event, then those events are emitted
            self.multiline.flush(self, docs, offsets, chosen)
            return
        for stream, first, msg, ts, pieces in self.fragments.take(chosen):
            flags: dict[str, Any] = {"incomplete": True}
            if pieces is not None:
                flags["split"] = pieces
            docs.append(self.builder.parsed(ts, stream, msg, flags))
            offsets.append(first)

    def flags_record(self, msg: bytes, start: int, docs: list[bytes], offsets: list[int], flags: dict[str, Any],
                     read_time: bytes | None = None) -> None:
        """A record cut by the line size limit: the piece, marked, through the general path."""
        docs.append(self.builder.parsed(read_time, None, msg, flags))
        offsets.append(start)
