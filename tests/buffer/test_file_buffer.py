"""FileBuffer: durable puts, replay after a crash, torn lines, disk errors, overflow policies."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from podlog.batch import Ack, Batch
from podlog.buffer.file import FileBuffer, FileChunk
from podlog.buffer.memory import BufferClosed, BufferOverflow, MemoryBuffer, SharedLimit
from podlog.buffer.options import BufferOptions
from podlog.config.errors import Located
from tests.conftest import wait_for


def opts(**kw: Any) -> BufferOptions:
    return BufferOptions.from_mapping(kw, Located("test", 0, "buffer"), "buffer.")  # type: ignore[return-value]


def batch(tag: str, *msgs: str, ack: Ack | None = None) -> Batch:
    return Batch(tag, docs=[orjson.dumps({"message": m}) for m in msgs], ack=ack)


def messages(chunk: Any) -> list[str]:
    return [orjson.loads(d)["message"] for d in chunk.docs()]


def test_put_writes_ndjson_and_done_deletes(tmp_path: Path) -> None:
    buf = FileBuffer(opts(flush_interval=0), str(tmp_path))
    buf.put(batch("a", "one", "two"))
    files = list(tmp_path.glob("*.chunk"))
    assert len(files) == 1
    lines = files[0].read_bytes().splitlines()
    assert orjson.loads(lines[0])["tag"] == "a" and lines[1] == b"#" and len(lines) == 4
    chunk = buf.take(timeout=1)
    assert isinstance(chunk, FileChunk) and messages(chunk) == ["one", "two"]
    buf.done(chunk)
    assert not list(tmp_path.glob("*.chunk")) and buf.bytes == 0 and buf.empty()


def test_replay_after_crash_keeps_order_and_cuts_torn_line(tmp_path: Path, caplog: Any) -> None:
    buf = FileBuffer(opts(chunk_limit_records=2), str(tmp_path))
    buf.put(batch("a", "1", "2"))
    buf.put(batch("a", "3"))
    # simulate kill -9 during a write: half a line at the end of the open chunk
    newest = sorted(tmp_path.glob("*.chunk"))[-1]
    with open(newest, "ab") as f:
        f.write(b'{"message":"tor')
    (tmp_path / "00000000000000000000-000000.chunk").write_bytes(b'{"podlog_ch')  # header torn: nothing acked
    again = FileBuffer(opts(flush_interval=0), str(tmp_path))
    assert again.replayed_chunks == 2 and again.replayed_records == 3
    got: list[str] = []
    while (chunk := again.take(timeout=0.1)) is not None:
        got += messages(chunk)
        again.done(chunk)
    assert got == ["1", "2", "3"]
    assert "torn line" in caplog.text and not list(tmp_path.glob("*.chunk"))


def test_staged_chunk_survives_close(tmp_path: Path) -> None:
    buf = FileBuffer(opts(flush_interval=3600), str(tmp_path))
    buf.put(batch("t", "x"))
    buf.close()
    again = FileBuffer(opts(), str(tmp_path))
    chunk = again.take(timeout=0.1)
    assert chunk is not None and messages(chunk) == ["x"] and chunk.tag == "t"


def test_disk_error_rolls_back_blocks_and_recovers(tmp_path: Path, monkeypatch: Any) -> None:
    buf = FileBuffer(opts(flush_interval=3600), str(tmp_path))
    buf.put(batch("t", "first"))
    real_write = os.write
    failures = {"left": 3}

    def flaky(fd: int, data: Any) -> int:
        if failures["left"] > 0:
            failures["left"] -= 1
            real_write(fd, bytes(data)[:5])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", flaky)
    started = time.monotonic()
    buf.put(batch("t", "second"))  # blocks through the failures, then succeeds
    assert time.monotonic() - started > 0.5 and buf.write_errors == 3 and buf.last_error == ""
    monkeypatch.setattr(os, "write", real_write)
    buf.close()
    lines = next(tmp_path.glob("*.chunk")).read_bytes().splitlines()[1:]
    assert [orjson.loads(x)["message"] for x in lines if x != b"#"] == ["first", "second"]


def test_disk_error_put_refused_at_shutdown(tmp_path: Path, monkeypatch: Any) -> None:
    buf = FileBuffer(opts(), str(tmp_path))

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    threading.Timer(0.3, buf.refuse).start()
    with pytest.raises(BufferClosed):
        buf.put(batch("t", "never acked"))
    assert buf.write_errors >= 1 and buf.bytes == 0


def test_block_then_resume_when_room(tmp_path: Path) -> None:
    buf = MemoryBuffer(opts(total_limit_size=300, chunk_limit_size=300, flush_interval=0))  # one record: ~175
    buf.put(batch("t", "a" * 80))
    done = threading.Event()

    def producer() -> None:
        buf.put(batch("t", "b" * 80))
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert wait_for(lambda: buf.blocked_since is not None)  # the producer is in put(), waiting for room...
    assert not done.is_set()  # ...which it does not return from while the buffer is full
    chunk = buf.take(timeout=1)
    assert chunk is not None
    buf.done(chunk)
    assert done.wait(2) and buf.bytes <= 300


def test_drop_oldest_counts_and_acks() -> None:
    buf = MemoryBuffer(opts(total_limit_size=100, chunk_limit_size=100, overflow_action="drop_oldest_chunk",
                            flush_mode="immediate"))
    released: list[int] = []
    dropped: list[int] = []
    buf.on_drop = lambda chunk, reason: dropped.append(len(chunk))
    first = Ack(lambda a: released.append(a.dropped))
    first.retain()
    buf.put(batch("t", "a" * 80, ack=first))
    first.release()
    buf.put(batch("t", "b" * 80))
    assert dropped == [1] and released == [1] and buf.dropped_records == 1


def test_throw_exception_and_shared_limit() -> None:
    buf = MemoryBuffer(opts(total_limit_size=100, chunk_limit_size=100, overflow_action="throw_exception"))
    buf.put(batch("t", "a" * 80))
    with pytest.raises(BufferOverflow):
        buf.put(batch("t", "b" * 80))
    shared = SharedLimit(150)
    one = MemoryBuffer(opts(overflow_action="throw_exception"), shared)
    two = MemoryBuffer(opts(overflow_action="throw_exception"), shared)
    one.put(batch("t", "a" * 100))
    with pytest.raises(BufferOverflow):
        two.put(batch("t", "b" * 100))
    assert shared.bytes == one.bytes


def test_chunk_limit_size_starts_new_chunk(tmp_path: Path) -> None:
    buf = FileBuffer(opts(chunk_limit_size=100, flush_interval=0), str(tmp_path))
    for i in range(5):
        buf.put(batch("t", f"{i}" * 25))  # 40 bytes each: two fit in a chunk
    sizes = []
    while (chunk := buf.take(timeout=0.1)) is not None:
        sizes.append(chunk.byte_size)
        buf.done(chunk)
    assert sizes == [80, 80, 40]


def test_replay_keeps_sources_and_offsets_for_idempotent_ids(tmp_path: Path) -> None:
    """Elasticsearch derives document ids from source + offset: a replayed chunk must give the same ones."""
    buf = FileBuffer(opts(), str(tmp_path))
    buf.put(Batch("a", docs=[b'{"message":"1"}', b'{"message":"2"}'], origin="dev:ino:1", offsets=[0, 10]))
    buf.put(batch("a", "no origin"))
    buf.put(Batch("a", docs=[b'{"message":"3"}', b'{"message":"4"}'], origin="dev:ino:2", offsets=[5, 15]))
    newest = sorted(tmp_path.glob("*.chunk"))[-1]
    data = newest.read_bytes()
    newest.write_bytes(data[: data.rfind(b'{"message":"4"}') + 5])  # kill -9 in the middle of the last batch
    buf.close()
    again = FileBuffer(opts(flush_interval=0), str(tmp_path))
    assert again.replayed_records == 4
    chunk = again.take(timeout=1)
    assert chunk is not None
    got = [(b.origin, b.offsets, [orjson.loads(d)["message"] for d in b.docs]) for b in chunk.batches]
    assert got == [("dev:ino:1", [0, 10], ["1", "2"]), (None, None, ["no origin"]), ("dev:ino:2", [5], ["3"])]
    again.done(chunk)
    again.close()
