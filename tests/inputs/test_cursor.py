"""Cursor: a file's offset is committed in order, only over batches that are all acknowledged."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from podlog.inputs.tail.checkpoint import Checkpoints, Cursor, Entry


def _cursor(tmp_path: Path | None = None) -> tuple[Cursor, Checkpoints]:
    checkpoints = Checkpoints(str(tmp_path / "pos.json") if tmp_path else None)
    return Cursor(checkpoints, "1:2", 0), checkpoints


def test_out_of_order_acks_commit_only_the_acknowledged_prefix() -> None:
    cursor, _ = _cursor()
    a, b, c = cursor.track(10), cursor.track(20), cursor.track(30)
    cursor.done(c)
    cursor.done(b)
    assert cursor.committed == 0 and cursor.in_flight == 3  # batch a still out: nothing may move
    cursor.done(a)
    assert cursor.committed == 30 and cursor.in_flight == 0


def test_truncation_makes_older_acks_stale() -> None:
    cursor, _ = _cursor()
    old = cursor.track(500)
    cursor.reset()  # the file was truncated: its new content starts at 0
    new = cursor.track(40)
    cursor.done(old)
    assert cursor.committed == 0  # an ack for the old content must not move the new file's offset
    cursor.done(new)
    assert cursor.committed == 40


def test_committed_offset_reaches_the_pos_file(tmp_path: Path) -> None:
    cursor, checkpoints = _cursor(tmp_path)
    checkpoints.set("1:2", Entry("/var/log/a.log", 0))  # the tail registers a followed file
    cursor.done(cursor.track(123))
    checkpoints.save()
    assert Checkpoints(str(tmp_path / "pos.json")).entries["1:2"].offset == 123


@given(st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=50), st.randoms())
def test_any_ack_order_commits_the_largest_fully_acked_prefix(sizes: list[int], rnd: random.Random) -> None:
    cursor, _ = _cursor()
    ends, total = [], 0
    for size in sizes:
        total += size
        ends.append(total)
    tokens = [cursor.track(end) for end in ends]
    order = list(range(len(tokens)))
    rnd.shuffle(order)
    acked: set[int] = set()
    for n in order:
        cursor.done(tokens[n])
        acked.add(n)
        prefix = 0
        while prefix in acked:
            prefix += 1
        assert cursor.committed == (ends[prefix - 1] if prefix else 0)
