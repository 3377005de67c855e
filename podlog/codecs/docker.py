"""The docker json-file envelope: ``{"log":"...\\n","stream":"stdout","time":"..."}``.

A ``log`` value without its trailing newline is a 16 KiB fragment of a longer line and is joined with the
next ones of its stream (``Fragments``). ``decode`` is the hot path of a docker file: one call per read.
"""

from __future__ import annotations

from itertools import compress

import msgspec
import orjson

from podlog.codecs.cri import line_starts
from podlog.codecs.framing import Fragments
from podlog.codecs.records import STREAMS, RecordBuilder, Records

__all__ = ["DockerLine", "decode", "is_docker", "records"]


class DockerLine(msgspec.Struct):
    """One line of a docker json-file log."""

    log: str
    stream: str = "stdout"
    time: str = ""


_DECODER = msgspec.json.Decoder(DockerLine)


def is_docker(line: bytes) -> bool:
    """Whether one line is a docker json-file log line."""
    if not line.startswith(b'{"log":'):
        return False
    try:
        _DECODER.decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return False
    return True


def decode(builder: RecordBuilder, fragments: Fragments, lines: list[bytes], base: int, docs: list[bytes],
           offsets: list[int]) -> None:
    """Append a document (and its offset) per complete record in ``lines``, which start at ``base``."""
    starts = line_starts(lines, base)
    out: list[bytes | None] = [None] * len(lines)
    simple = builder.parse is None and not builder.lift_json
    recs = records(fragments, lines, starts, out, builder.template if simple else None)
    if recs:
        builder.build_into(recs, out)
    docs.extend(filter(None, out))
    offsets.extend(compress(starts, out))


def records(fragments: Fragments, lines: list[bytes], starts: list[int], out: list[bytes | None],
            template: bytes | None = None) -> Records:
    """Envelopes decoded and fragments joined into records for the general path; with a ``template``
    (no parser, no lifting) a plain line's document is spliced into ``out`` instead.

    A record made of fragments is placed at the line that ends it, with the first fragment's offset
    (``starts`` is updated).
    """
    decode_line = _DECODER.decode
    dumps = orjson.dumps
    held, pieces = fragments.held, fragments.pieces
    recs = Records()
    # Records.add, inlined: every line of a multiline or parsed file comes this way
    at_add, time_add, stream_add, message_add = recs.at.append, recs.time.append, recs.stream.append, \
        recs.message.append
    for i, line in enumerate(lines):
        if not line:
            continue
        try:
            entry = decode_line(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            recs.add_error(i, line, "invalid docker json-file line")
            continue
        stream = entry.stream.encode()
        log = entry.log
        if not log.endswith("\n"):  # a 16 KiB fragment: held until the line's end
            fragments.hold(stream, starts, i, log.encode(), entry.time.encode(), recs)
            continue
        log = log[:-1]
        ts = entry.time.encode()
        if stream in held:
            fragments.end(stream, starts, i, log.encode(), ts, recs)
        elif stream in pieces:
            fragments.end(stream, starts, i, log.encode(errors="surrogatepass"), ts, recs)
        elif template is not None and stream in STREAMS and b'"' not in ts and b"\\" not in ts:
            out[i] = template % (ts, stream, dumps(log))
        else:
            at_add(i)
            time_add(ts)
            stream_add(stream)
            message_add(log.encode(errors="surrogatepass"))
    return recs
