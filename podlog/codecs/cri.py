"""The CRI envelope: ``<RFC3339Nano time> <stdout|stderr> <P|F> <message>``, ``P`` fragments joined per stream.

``decode`` is the hot path of a CRI file: one call per read. The common line (full, a valid envelope, UTF-8)
is spliced into its document by the fast loops; every other line (fragments, bad envelopes, odd payloads,
anything for a parser) is revisited in order by ``records``, which takes envelopes off and joins fragments
into ``Records`` for the general path.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import accumulate, chain, compress, count
from operator import add, methodcaller

import msgspec
import orjson

from podlog.codecs.framing import Fragments
from podlog.codecs.records import STREAMS, RecordBuilder, Records, all_utf8, clash_probe, escape_lines, is_utf8

__all__ = ["decode", "is_cri", "line_starts", "records"]

_SPLIT3 = methodcaller("split", b" ", 3)
_FLAGS = (b"P", b"F")


def is_cri(line: bytes) -> bool:
    """Whether one line looks like a CRI log line."""
    parts = line.split(b" ", 3)
    return len(parts) >= 3 and parts[1] in STREAMS and parts[2] in _FLAGS and parts[0][:2].isdigit()


def line_starts(lines: list[bytes], base: int) -> list[int]:
    """Each line's offset, and after them the end's (lines start at ``base``, one newline after each)."""
    return list(map(add, accumulate(chain((base,), map(len, lines))), count()))


def decode(builder: RecordBuilder, fragments: Fragments, lines: list[bytes], base: int, docs: list[bytes],
           offsets: list[int]) -> None:
    """Append a document (and its offset) per complete record in ``lines``, which start at ``base``.

    The messages are escaped for JSON a chunk at a time: one decode (UTF-8 check) and one
    orjson call for all lines, cut apart again at the escaped separator, so the loop only
    splices. A chunk that does not fit (invalid UTF-8, a separator inside a line) is escaped
    line by line instead.
    """
    starts = line_starts(lines, base)
    out: list[bytes | None] = []
    append = out.append
    special: list[int] = []
    held = fragments.busy()
    parse = builder.parse
    lift = builder.lift_json and parse is None
    if parse is not None:
        held = {b"stdout", b"stderr", b"-"}  # every line takes the general path, parsed per chunk
    escaped = None if lift or parse is not None else escape_lines(lines)
    if escaped is not None:
        spliced_tpl = builder.template_escaped
        for parts in map(_SPLIT3, escaped):
            # escaped: a '"' or '\\' in the time, or any control character, shows as a backslash
            if len(parts) == 4 and parts[2] == b"F" and parts[1] not in held and parts[1] in STREAMS \
                    and b"\\" not in parts[0]:
                append(spliced_tpl % (parts[0], parts[1], parts[3]))
                continue
            if len(parts) == 4:
                _track_fragments(held, parts[2], parts[1])
            special.append(len(out))
            append(None)
    else:
        _decode_lines(builder, lines, held, lift, out, special)
    if special:
        builder.build_into(records(fragments, lines, special, starts), out)
    docs.extend(filter(None, out))
    offsets.extend(compress(starts, out))


def _track_fragments(held: set[bytes], flag: bytes, stream: bytes) -> None:
    """A ``P`` line holds its stream: its later lines take the general path, where fragments are joined.
    The ``F`` that ends them is special too, and the stream's later lines are fast again."""
    if flag == b"P":
        held.add(stream)
    else:
        held.discard(stream)


def _decode_lines(builder: RecordBuilder, lines: list[bytes], held: set[bytes], lift: bool,
                  out: list[bytes | None], special: list[int]) -> None:
    """The fast loop line by line: payloads lifted (``lift``), or escaped one at a time."""
    append = out.append
    dumps = orjson.dumps
    tpl = builder.template
    frag = builder.frag
    parse = builder.parse
    probe, no_clash = clash_probe(builder.reserved)
    # msgspec checks JSON, not the UTF-8 inside strings: one check per read, per line only if it fails
    utf8 = not lift or all_utf8(lines)
    for parts in map(_SPLIT3, lines):
        if len(parts) == 4 and parts[2] == b"F" and parts[1] not in held and parts[1] in STREAMS \
                and b'"' not in parts[0] and b"\\" not in parts[0]:
            msg = parts[3]
            if lift and msg[:1] == b"{":
                # RecordBuilder.splice, inlined: the payload's members after ours, when its keys are all new
                try:
                    new_keys = probe(msg) == no_clash
                except (msgspec.DecodeError, msgspec.ValidationError):
                    new_keys = False
                if new_keys and msg[1:2] == b'"' and (utf8 or is_utf8(msg)):
                    append(b'{"@timestamp":"%b","stream":"%b",%b%b' % (parts[0], parts[1], frag, msg.strip()[1:]))
                    continue
            else:
                try:
                    append(tpl % (parts[0], parts[1], dumps(msg.decode())))
                    continue
                except UnicodeDecodeError:
                    pass
        elif len(parts) == 4 and parse is None:
            _track_fragments(held, parts[2], parts[1])
        special.append(len(out))
        append(None)


def records(fragments: Fragments, lines: list[bytes], rows: Iterable[int], starts: list[int]) -> Records:
    """Lines ``rows`` with their envelope taken off and ``P`` fragments joined, for the general path.

    A record made of fragments is placed at the line that ends it, with the first fragment's offset
    (``starts`` is updated).
    """
    recs = Records()
    # Records.add, inlined: every line of a multiline or parsed file comes this way
    at_add, time_add, stream_add, message_add = recs.at.append, recs.time.append, recs.stream.append, \
        recs.message.append
    held, pieces = fragments.held, fragments.pieces
    for i in rows:
        parts = lines[i].split(b" ", 3)
        if len(parts) == 3 and parts[2] == b"F":
            parts.append(b"")
        if len(parts) != 4 or parts[1] not in STREAMS or parts[2] not in _FLAGS \
                or b'"' in parts[0] or b"\\" in parts[0]:
            recs.add_error(i, lines[i], "invalid CRI line")
            continue
        ts, stream, flag, msg = parts
        if flag == b"P":
            fragments.hold(stream, starts, i, msg, ts, recs)
        elif stream in held or stream in pieces:
            fragments.end(stream, starts, i, msg, ts, recs)
        else:
            at_add(i)
            time_add(ts)
            stream_add(stream)
            message_add(msg)
    return recs
