"""Chunk: the documents still to deliver, narrowed by the runner from each partial result."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from podlog.batch import Ack, Batch
from podlog.buffer.chunk import Chunk
from podlog.buffer.options import BufferOptions
from podlog.buffer.result import Result
from podlog.buffer.runner import OutputRunner
from podlog.config.errors import Located
from podlog.outputs._base import Output
from podlog.telemetry.ledger import Ledger
from podlog.telemetry.metrics import AgentMetrics


def three_batches() -> Chunk:
    chunk = Chunk("t", 0.0)
    for name, n in (("a", 3), ("b", 2), ("c", 4)):
        batch = Batch("t", docs=[f"{name}{i}".encode() for i in range(n)], origin=name, offsets=list(range(n)))
        chunk.add(batch, batch.byte_size())
    return chunk


def test_a_fresh_chunk_gives_every_document_and_every_batch_whole() -> None:
    chunk = three_batches()
    assert chunk.docs() == [b"a0", b"a1", b"a2", b"b0", b"b1", b"c0", b"c1", b"c2", b"c3"]
    assert [(b.origin, list(p)) for b, p in chunk.parts()] == [("a", [0, 1, 2]), ("b", [0, 1]), ("c", [0, 1, 2, 3])]
    assert not chunk.partial and len(chunk) == 9


def test_narrow_takes_positions_in_the_last_view_and_composes() -> None:
    chunk = three_batches()
    chunk.narrow([2, 0, 6, 4])  # any order, positions in docs() as the output was given it
    assert chunk.docs() == [b"a0", b"a2", b"b1", b"c1"] and chunk.partial
    assert [(b.origin, list(p)) for b, p in chunk.parts()] == [("a", [0, 2]), ("b", [1]), ("c", [1])]
    chunk.narrow([1, 3])  # of the four above: a2 and c1
    assert chunk.docs() == [b"a2", b"c1"]
    assert [(b.origin, list(p)) for b, p in chunk.parts()] == [("a", [2]), ("c", [1])]
    assert len(chunk) == 9  # still the chunk's size for accounting: the rest was delivered or dead-lettered


def opts(**kw: Any) -> BufferOptions:
    return BufferOptions.from_mapping(kw, Located("test", 0, "buffer"), "buffer.")  # type: ignore[return-value]


class EveryOther(Output):
    """Delivers the documents at even positions of what it is given, refuses the first odd one for good,
    and asks to retry the other odd ones; it remembers nothing between calls."""

    name = "every-other"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []
        self.delivered: list[str] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def write(self, chunk: Chunk) -> Result:
        docs = chunk.docs()
        self.seen.append([orjson.loads(d)["m"] for d in docs])
        self.delivered += [orjson.loads(d)["m"] for d in docs[0::2]]
        odd = list(range(1, len(docs), 2))
        if not odd:
            return Result.ok()
        refused = [(docs[odd[0]], "400 refused")]
        if len(odd) == 1:
            return Result(Result.ok().status, rejected=refused)
        return Result.partial("429 on some", odd[1:], refused)


def test_runner_sends_each_attempt_only_what_the_last_one_left(tmp_path: Path) -> None:
    out = EveryOther()
    ledger = Ledger()
    metrics = AgentMetrics()
    runner = OutputRunner("out", out, opts(flush_interval=0, retry_wait=0.01), metrics, ledger, str(tmp_path))
    runner.start()
    try:
        settled: list[int] = []
        ack = Ack(lambda a: settled.append(a.dropped), "src", ledger)
        ledger.add_read("src", 12)
        runner.submit(Batch("t", docs=[orjson.dumps({"m": f"{i:02d}"}) for i in range(12)], ack=ack))
        ack.release()
        end = time.monotonic() + 10
        while not settled and time.monotonic() < end:
            time.sleep(0.02)
        assert settled == [0]
    finally:
        runner.stop()
    assert out.seen == [
        [f"{i:02d}" for i in range(12)],
        ["03", "05", "07", "09", "11"],  # the evens delivered, 01 refused, the other odd ones left
        ["09"],  # 03, 07 and 11 delivered, 05 refused
    ]
    assert sorted(out.delivered) == ["00", "02", "03", "04", "06", "07", "08", "09", "10", "11"]
    dead = [orjson.loads(x)["record"]["m"] for x in (tmp_path / "deadletter" / "out.ndjson").read_bytes().splitlines()]
    assert dead == ["01", "05"]
    row = ledger.snapshot()["src"]
    assert row == {"read": 12, "delivered": 10, "dropped": {"dead_letter": 2}, "buffered": 0}
