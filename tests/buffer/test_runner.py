"""OutputRunner: retries with backoff, give-up to the dead-letter file, per-item rejections, the ledger."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from podlog.batch import Ack, Batch
from podlog.buffer.options import BufferOptions
from podlog.buffer.retry import RetryPolicy
from podlog.buffer.runner import OutputRunner
from podlog.config.errors import Located
from podlog.outputs._base import Chunk, Output, Result
from podlog.telemetry.ledger import Ledger
from podlog.telemetry.metrics import AgentMetrics


def opts(**kw: Any) -> BufferOptions:
    return BufferOptions.from_mapping(kw, Located("test", 0, "buffer"), "buffer.")  # type: ignore[return-value]


class Scripted(Output):
    """Returns the scripted results in turn, then DELIVERED."""

    name = "scripted"

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.seen: list[list[bytes]] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def write(self, chunk: Chunk) -> Result:
        self.seen.append(list(chunk.docs()))
        return self.results.pop(0) if self.results else Result.ok()


def submit(runner: OutputRunner, ledger: Ledger, *msgs: str) -> list[int]:
    settled: list[int] = []
    ack = Ack(lambda a: settled.append(a.dropped), "src", ledger)
    ledger.add_read("src", len(msgs))
    runner.submit(Batch("t", docs=[orjson.dumps({"m": m}) for m in msgs], ack=ack))
    ack.release()
    return settled


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    assert cond()


def sample(metrics: AgentMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def make(tmp_path: Path, out: Output, **kw: Any) -> tuple[OutputRunner, Ledger, AgentMetrics]:
    metrics, ledger = AgentMetrics(), Ledger()
    kw.setdefault("flush_interval", 0)
    kw.setdefault("retry_wait", 0.01)
    runner = OutputRunner("out", out, opts(**kw), metrics, ledger, str(tmp_path))
    runner.start()
    return runner, ledger, metrics


def test_retry_then_deliver(tmp_path: Path) -> None:
    out = Scripted([Result.retry("503"), Result.retry("503")])
    runner, ledger, metrics = make(tmp_path, out)
    settled = submit(runner, ledger, "a", "b")
    wait_for(lambda: settled == [0])
    assert len(out.seen) == 3
    assert sample(metrics, "podlog_output_retries_total", output="out") == 2
    assert ledger.snapshot()["src"] == {"read": 2, "delivered": 2, "dropped": {}, "buffered": 0}
    runner.stop()


def test_permanent_error_goes_to_dead_letter(tmp_path: Path) -> None:
    out = Scripted([Result.reject("400 mapping error")])
    runner, ledger, metrics = make(tmp_path, out)
    settled = submit(runner, ledger, "a", "b")
    wait_for(lambda: settled == [2])
    lines = [orjson.loads(x) for x in (tmp_path / "deadletter" / "out.ndjson").read_bytes().splitlines()]
    assert [x["record"] for x in lines] == [{"m": "a"}, {"m": "b"}]
    assert {x["reason"] for x in lines} == {"400 mapping error"} and lines[0]["output"] == "out"
    assert set(lines[0]) == {"time", "output", "reason", "tag", "record"}
    assert sample(metrics, "podlog_output_records_total", output="out", status="dead_lettered") == 2
    assert ledger.snapshot()["src"]["dropped"] == {"dead_letter": 2}
    runner.stop()


def test_give_up_after_retry_max_times_and_partial_rejects(tmp_path: Path) -> None:
    out = Scripted([Result.retry("down")] * 3)
    runner, ledger, _ = make(tmp_path, out, retry_max_times=2)
    settled = submit(runner, ledger, "a")
    wait_for(lambda: settled == [1])
    reasons = [orjson.loads(x)["reason"] for x in (tmp_path / "deadletter" / "out.ndjson").read_bytes().splitlines()]
    assert reasons == ["gave up after 3 attempts: down"]
    partial = Result.ok()
    partial.rejected = [(b'{"m":"y"}', "400 bad field")]
    out.results = [partial]
    settled = submit(runner, ledger, "x", "y")
    wait_for(lambda: settled == [0])
    row = ledger.snapshot()["src"]
    assert row["delivered"] == 1 and row["dropped"] == {"dead_letter": 2} and row["buffered"] == 0
    runner.stop()


def test_file_buffer_acks_on_durable_write(tmp_path: Path) -> None:
    out = Scripted([Result.retry("down")] * 1000)
    runner, ledger, _ = make(tmp_path, out, type="file", retry_forever=True, retry_max_interval=0.05)
    settled = submit(runner, ledger, "a")
    assert settled == [0]  # acked at once: it is on disk
    wait_for(lambda: len(out.seen) >= 2)
    assert list((tmp_path / "buffer" / "out").glob("*.chunk"))
    assert runner.status()["retry_attempts"] >= 1
    out.results = []
    wait_for(lambda: not list((tmp_path / "buffer" / "out").glob("*.chunk")))
    assert ledger.snapshot()["src"]["delivered"] == 1
    runner.stop()


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(opts(retry_wait=1, retry_max_interval=8))
    waits = [policy.wait(n) for n in range(1, 10)]
    assert all(0 < w <= 8 for w in waits) and waits[-1] >= 4
    assert policy.give_up(1, 72 * 3600) and not RetryPolicy(opts(retry_forever=True)).give_up(99, 1e9)


def test_big_batch_split_to_chunk_limit_shares_one_ack(tmp_path: Path) -> None:
    out = Scripted([])
    runner, ledger, _ = make(tmp_path, out, chunk_limit_size=100)
    settled = submit(runner, ledger, *[f"{i:02d}" + "x" * 30 for i in range(10)])  # 10 x 42 bytes
    wait_for(lambda: settled == [0])
    assert all(sum(len(d) + 1 for d in docs) <= 100 for docs in out.seen)
    assert [orjson.loads(d)["m"][:2] for docs in out.seen for d in docs] == [f"{i:02d}" for i in range(10)]
    assert ledger.snapshot()["src"]["delivered"] == 10
    runner.stop()


class PartlyDelivering(Output):
    """Like Elasticsearch bulk: each attempt indexes the first pending doc, refuses the second for good,
    and asks to retry the rest; the backend never recovers."""

    name = "partly"

    def __init__(self) -> None:
        self.indexed: list[bytes] = []

    def write(self, chunk: Chunk) -> Result:
        docs = chunk.docs()
        self.indexed.append(docs[0])
        refused = [(docs[1], f"400 bad {orjson.loads(docs[1])['m']}")] if len(docs) > 1 else []
        if len(docs) <= 2:
            return Result(Result.ok().status, rejected=refused)
        return Result.partial("429 for the rest", list(range(2, len(docs))), refused)


def test_refusals_of_retried_attempts_are_dead_lettered_even_when_the_chunk_is_given_up(tmp_path: Path) -> None:
    out = PartlyDelivering()
    runner, ledger, metrics = make(tmp_path, out, retry_max_times=1)
    settled = submit(runner, ledger, *"abcdefg")
    wait_for(lambda: len(settled) == 1)
    dead = [orjson.loads(x) for x in (tmp_path / "deadletter" / "out.ndjson").read_bytes().splitlines()]
    # attempt 1: a indexed, b refused; attempt 2: c indexed, d refused; then given up on e, f, g
    assert [orjson.loads(d)["m"] for d in out.indexed] == ["a", "c"]
    assert [(d["record"]["m"], d["reason"]) for d in dead] == [
        ("b", "400 bad b"), ("d", "400 bad d"),
        *((m, "gave up after 2 attempts: 429 for the rest") for m in "efg")]
    assert sample(metrics, "podlog_output_records_total", output="out", status="dead_lettered") == 5
    assert sample(metrics, "podlog_output_records_total", output="out", status="delivered") == 2
    snap = ledger.snapshot()["src"]
    assert snap["read"] == 7 and round(snap["delivered"]) == 2 and round(snap["dropped"]["dead_letter"]) == 5
    runner.stop()


def test_per_item_outcomes_of_an_output_are_exported(tmp_path: Path) -> None:
    from podlog.telemetry.metrics import StateCollector

    class Counting(Scripted):
        def stats(self) -> dict[str, int]:
            return {"indexed": 7, "retry_es_rejected_execution_exception": 2}

    runner, _, metrics = make(tmp_path, Counting([]))
    metrics.registry.register(StateCollector(lambda: {"outputs": [runner.status()]}))
    assert sample(metrics, "podlog_output_items_total", output="out", outcome="indexed") == 7
    assert sample(metrics, "podlog_output_items_total", output="out",
                  outcome="retry_es_rejected_execution_exception") == 2
    runner.stop()
