"""PENDING writes: the flush thread moves on, the chunk is acked only when ``settle`` says it is durable, and a
failed settle sends the chunk back to be written again."""

from __future__ import annotations

import threading
from pathlib import Path

from podlog.outputs._base import Chunk, Output, Result
from tests.buffer.test_runner import make, submit, wait_for


class GroupCommit(Output):
    """Accepts chunks at once; ``commit()`` makes everything written so far durable (or fails it)."""

    name = "group"

    def __init__(self, fail_first: bool = False) -> None:
        self.written: list[list[bytes]] = []
        self.committed = threading.Event()
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def write(self, chunk: Chunk) -> Result:
        with self.lock:
            self.written.append(list(chunk.docs()))
        event = self.committed

        def settle() -> Result:
            event.wait(10)
            if self.fail_first:
                self.fail_first = False
                return Result.retry("commit failed")
            return Result.ok()

        return Result.pending(settle)

    def commit(self) -> None:
        self.committed.set()
        self.committed = threading.Event()


def test_pending_chunks_are_acked_after_their_commit(tmp_path: Path) -> None:
    out = GroupCommit()
    runner, ledger, _ = make(tmp_path, out)
    first = submit(runner, ledger, "a")
    wait_for(lambda: len(out.written) == 1)
    second = submit(runner, ledger, "b")
    wait_for(lambda: len(out.written) == 2)  # the one flush thread did not wait for the first chunk's commit
    assert first == [] and second == []      # nothing acknowledged before the commit
    out.commit()
    wait_for(lambda: first == [0] and second == [0])
    assert ledger.snapshot()["src"]["delivered"] == 2
    runner.stop()


def test_a_failed_commit_writes_the_chunk_again(tmp_path: Path) -> None:
    out = GroupCommit(fail_first=True)
    runner, ledger, _ = make(tmp_path, out)
    acked = submit(runner, ledger, "a")
    wait_for(lambda: len(out.written) == 1)
    out.commit()  # fails: the chunk goes back to the buffer and is written again
    wait_for(lambda: len(out.written) == 2)
    assert acked == []
    out.commit()
    wait_for(lambda: acked == [0])
    assert out.written[0] == out.written[1]
    runner.stop()
