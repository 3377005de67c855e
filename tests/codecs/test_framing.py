"""Framing on its own: reads cut into lines, the one line size limit on raw lines and on joined fragments."""

from __future__ import annotations

from typing import Any

import orjson

from podlog.codecs.container import LineCodec
from podlog.codecs.framing import Fragments, LineFramer, LineLimit
from podlog.codecs.records import Records

NOW = b"2024-01-01T00:00:00Z"


def feed(framer: LineFramer, codec: LineCodec, reads: list[bytes]) -> list[tuple[int, Any, Any]]:
    """Every read through the framer as the tail input does it: (offset, message, podlog marks) per document."""
    docs: list[bytes] = []
    offsets: list[int] = []
    for data in reads:
        framed = framer.push(data)
        if framed is None:
            if framer.overlong():
                framer.cut(codec, docs, offsets)
            continue
        framer.decode(codec, *framed, docs, offsets)
    taken = framer.take_unfinished()
    if taken is not None:
        framer.last_line(codec, *taken, docs, offsets)
    records = [orjson.loads(d) for d in docs]
    return [(off, r["message"], r.get("podlog")) for off, r in zip(offsets, records, strict=True)]


def test_reads_are_cut_at_newlines_whatever_their_sizes() -> None:
    framer = LineFramer(LineLimit(1000))
    out = feed(framer, LineCodec("none"), [b"one\ntw", b"o", b"\nthree\nfo", b"ur"])
    assert out == [(0, "one", None), (4, "two", None), (8, "three", None), (14, "four", None)]
    assert framer.start == 18 and not framer.unfinished


def test_a_long_line_is_split_into_numbered_pieces_as_it_grows_and_at_its_newline() -> None:
    framer = LineFramer(LineLimit(4))
    out = feed(framer, LineCodec("none"), [b"abcdef", b"ghij", b"k\nok\n", b"0123456789\nend"])
    assert out == [(0, "abcd", {"split": 0}), (4, "efgh", {"split": 1}), (8, "ijk", {"split": 2}),
                   (12, "ok", None),
                   (15, "0123", {"split": 0}), (19, "4567", {"split": 1}), (23, "89", {"split": 2}),
                   (26, "end", None)]


def test_truncate_keeps_the_first_piece_and_drops_the_rest_of_the_line() -> None:
    framer = LineFramer(LineLimit(4, truncate=True))
    out = feed(framer, LineCodec("none"), [b"abcdef", b"ghij", b"k\nok\n", b"0123456789\nend"])
    assert out == [(0, "abcd", {"truncated": True}), (12, "ok", None), (15, "0123", {"truncated": True}),
                   (26, "end", None)]


def test_reset_forgets_the_unfinished_line() -> None:
    framer = LineFramer(LineLimit(4, truncate=True), start=50)
    framer.push(b"abcdefgh")
    framer.cut(LineCodec("none"), [], [])
    assert framer.skipping
    framer.reset(0)
    assert (framer.start, framer.unfinished, framer.skipping, framer.split_index) == (0, False, False, 0)


def test_fragments_join_per_stream_and_obey_the_same_limit() -> None:
    fragments = Fragments(LineLimit(5))
    starts = [0, 10, 20, 30, 40]
    recs = Records()
    fragments.hold(b"stdout", starts, 0, b"abc", b"t0", recs)
    fragments.hold(b"stderr", starts, 1, b"xy", b"t1", recs)
    assert fragments.held_from() == 0 and fragments.offsets() == {b"stdout": 0, b"stderr": 10}
    fragments.hold(b"stdout", starts, 2, b"def", b"t2", recs)  # 6 bytes: over the limit, emitted as piece 0
    fragments.end(b"stdout", starts, 3, b"g", b"t3", recs)     # the end of that line: the last piece
    fragments.end(b"stderr", starts, 4, b"z", b"t4", recs)     # joined, at the first fragment's offset and time
    assert recs.at == [2, 3, 4] and recs.message == [b"abcdef", b"g", b"xyz"] and recs.time == [b"t0", b"t3", b"t1"]
    assert recs.cuts == {0: {"split": 0}, 1: {"split": 1}} and recs.errors == {}
    assert starts == [0, 10, 0, 30, 10] and fragments.held_from() is None and not fragments.pieces


def test_fragments_taken_at_the_end_say_how_many_pieces_went_before() -> None:
    fragments = Fragments(LineLimit(4))
    recs = Records()
    fragments.hold(b"stdout", [7], 0, b"abcde", b"t", recs)
    fragments.hold(b"stdout", [20], 0, b"fg", b"u", recs)
    fragments.hold(b"stderr", [30], 0, b"x", b"v", recs)
    assert fragments.take({b"stdout"}) == [(b"stdout", 20, b"fg", b"u", 1)]
    assert fragments.take() == [(b"stderr", 30, b"x", b"v", None)]
    assert not fragments.held and not fragments.pieces


def test_the_tail_gives_its_codec_the_limit_its_framer_uses() -> None:
    """One limit: a raw line and a line joined from fragments are cut at the same size, the same way."""
    from podlog.config.errors import Located
    from podlog.inputs.tail.input import TailInput

    options = {"path": ["/nonexistent/*.log"], "tag": "t", "max_line_size": "100", "max_line_action": "truncate"}
    tail = TailInput(TailInput.Options.from_mapping(options, Located("<test>", 0, ""), ""))
    codec = tail.codec_for("/nonexistent/a.log", b"2024-01-01T00:00:00Z stdout F x")
    assert codec.format == "cri" and codec.limit is tail.line_limit
    assert (codec.limit.size, codec.limit.truncate) == (100, True)
