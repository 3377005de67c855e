"""Acks carry their source and share and tell their listener (the loss ledger) when records settle.

The ledger is only a listener here: these tests use a recording one to show
that nothing reaches into it, and the real ``Ledger`` to show it adds up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from podlog.batch import Batch
from podlog.buffer.ack import REPLAYED, Ack, Tally
from podlog.buffer.file import FileBuffer
from podlog.buffer.options import BufferOptions
from podlog.buffer.result import Result
from podlog.buffer.runner import OutputRunner
from podlog.config.errors import Located
from podlog.outputs._base import Chunk, Output
from podlog.telemetry.ledger import Ledger
from podlog.telemetry.metrics import AgentMetrics


class Heard:
    """A SettleListener that records what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, float], str | None]] = []

    def settled(self, by_source: Mapping[str, float], reason: str | None) -> None:
        self.calls.append((dict(by_source), reason))


def opts(**kw: Any) -> BufferOptions:
    return BufferOptions.from_mapping(kw, Located("test", 0, "buffer"), "buffer.")  # type: ignore[return-value]


def wait_for(cond: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    assert cond()


def test_settle_tells_the_listener_weighted_by_share() -> None:
    heard = Heard()
    ack = Ack(source="app", listener=heard)
    ack.settle(4, "filtered")
    ack.share = 0.5  # routed to two outputs: each settles half a record per record
    ack.settle(4)
    ack.settle(0, "unmatched")  # nothing to tell
    assert heard.calls == [({"app": 4.0}, "filtered"), ({"app": 2.0}, None)]


def test_an_ack_without_listener_settles_silently_and_attach_names_its_source() -> None:
    ack = Ack()
    ack.settle(3, "filtered")  # a dry run's or a test's batch: no ledger, no error
    heard = Heard()
    ack.attach("tail.0", heard)
    ack.settle(3, "filtered")
    assert (ack.source, ack.listener) == ("tail.0", heard) and heard.calls == [({"tail.0": 3.0}, "filtered")]


def test_child_ack_shares_source_and_listener_and_holds_its_parent() -> None:
    done: list[int] = []
    heard = Heard()
    parent = Ack(lambda a: done.append(a.dropped), "app", heard)
    parent.share = 0.25
    child = parent.child()
    assert (child.source, child.listener, child.share) == ("app", heard, 1.0)  # a new route: a whole record
    parent.release()  # the creator's reference: the child still holds the parent
    assert done == []
    child.dropped += 2
    child.release()
    assert done == [2]  # what the new route gave up counts as given up by the input's batch


def test_tally_groups_by_listener_and_settles_a_fraction() -> None:
    a, b = Heard(), Heard()
    x, y = Ack(source="x", listener=a), Ack(source="y", listener=a)
    y.share = 0.5
    tally = Tally.of([(x, 4), (y, 4), (Ack(source="z", listener=b), 2), (Ack(source="none"), 9)])
    tally.settle(0.5, "dead_letter")
    assert a.calls == [({"x": 2.0, "y": 1.0}, "dead_letter")]
    assert b.calls == [({"z": 1.0}, "dead_letter")]
    assert {s: n for counts in tally.counts.values() for s, n in counts.items()} == {"x": 4.0, "y": 2.0, "z": 2.0}


class Failing(Output):
    """Retries until ``up`` is set."""

    name = "failing"

    def __init__(self) -> None:
        self.up = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def write(self, chunk: Chunk) -> Result:
        return Result.ok() if self.up else Result.retry("down")


def test_file_buffer_settles_records_through_the_ledger_after_their_acks_were_released(tmp_path: Path) -> None:
    """A file buffer releases the input's ack once the records are on disk; delivery comes later, and
    still credits the input's source, with its share, through the chunk's tally."""
    out = Failing()
    heard = Heard()
    runner = OutputRunner("out", out, opts(type="file", flush_interval=0, retry_wait=0.01, retry_forever=True,
                                            retry_max_interval=0.05), AgentMetrics(), Ledger(), str(tmp_path))
    runner.start()
    try:
        released: list[int] = []
        ack = Ack(lambda a: released.append(a.dropped), "app", heard)
        ack.share = 0.5
        runner.submit(Batch("t", docs=[orjson.dumps({"m": i}) for i in range(6)], ack=ack))
        ack.release()
        assert released == [0] and heard.calls == []  # durable: acked, not yet delivered
        out.up = True
        wait_for(lambda: heard.calls)
        assert heard.calls == [({"app": 3.0}, None)]
    finally:
        runner.stop()


def test_replayed_chunks_settle_as_replayed_in_the_runners_ledger(tmp_path: Path) -> None:
    left = FileBuffer(opts(flush_interval=0), str(tmp_path / "buffer" / "out"))
    left.put(Batch("t", docs=[b'{"m":1}', b'{"m":2}'], ack=Ack()))
    left.close()  # a previous run stopped with these on disk
    ledger = Ledger()
    out = Failing()
    out.up = True
    runner = OutputRunner("out", out, opts(type="file", flush_interval=0), AgentMetrics(), ledger, str(tmp_path))
    runner.start()
    try:
        wait_for(lambda: ledger.snapshot().get(REPLAYED, {}).get("delivered") == 2)
        assert ledger.snapshot()[REPLAYED] == {"read": 2, "delivered": 2, "dropped": {}, "buffered": 0}
    finally:
        runner.stop()
