"""StoreWriter: group commits, ids across restarts, retention by age and by size, record -> columns."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

pytest.importorskip("tantivy")

from podlog.store.reader import StoreReader
from podlog.store.record import parse_time_us
from podlog.store.schema import Layout
from podlog.store.writer import StoreWriter, directory_bytes
from tests.store.helpers import BASE_MS, iso, make_store, record, write

ALL = (0, BASE_MS + 10 * 86_400_000)


def test_ack_waits_for_the_commit_that_holds_the_documents(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s", commit_interval=3600, commit_docs=10**9)
    writer.start()
    try:
        reader = StoreReader(writer.path, reload_interval=0)
        gen = writer.add(writer.documents("t", [orjson.dumps(record(BASE_MS, "one"))], None, None))
        assert writer.wait(gen, timeout=0.05) is not None  # no commit yet: not durable, not acknowledged
        assert reader.count(reader.query("")[0]) == 0
        done: list[str | None] = []
        waiter = threading.Thread(target=lambda: done.append(writer.wait(gen, timeout=30)))
        waiter.start()
        gen2 = writer.add(writer.documents("t", [orjson.dumps(record(BASE_MS, "two"))], None, None))
        assert gen2 == gen  # both join the open commit
        writer.commit()
        waiter.join(10)
        assert done == [None]
        assert writer.wait(gen2, timeout=0.01) is None
        assert reader.count(reader.query("")[0]) == 2
    finally:
        writer.close()


def test_commit_loop_commits_by_time_and_by_size(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s", commit_interval=0.2, commit_docs=50)
    writer.start()
    try:
        gen = writer.add(writer.documents("t", [orjson.dumps(record(BASE_MS, "x"))], None, None))
        assert writer.wait(gen, timeout=30) is None
        big = writer.add(writer.documents("t", [orjson.dumps(record(BASE_MS, f"r {i}")) for i in range(60)], None,
                                          None))
        assert writer.wait(big, timeout=30) is None
    finally:
        writer.close()


def test_ids_continue_after_reopening(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s")
    write(writer, [record(BASE_MS + i, f"a {i}") for i in range(5)])
    writer.close()
    writer = make_store(tmp_path / "s")
    write(writer, [record(BASE_MS + 10 + i, f"b {i}") for i in range(5)])
    writer.close()
    hits = StoreReader(str(tmp_path / "s")).search("", *ALL, size=100)["hits"]
    assert sorted(int(h["id"]) for h in hits) == list(range(1, 11))


def test_layout_is_kept_by_an_existing_store(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s", Layout(labels=["team"], fields={"status": "number"}))
    write(writer, [record(BASE_MS, "x", status=503, kubernetes={"pod_name": "p", "labels": {"team": "pay"}})])
    writer.close()
    reopened = make_store(tmp_path / "s", Layout(labels=["other"]))
    assert reopened.layout.labels == ["team"] and reopened.layout.fields == {"status": "number"}
    reopened.close()
    reader = StoreReader(str(tmp_path / "s"))
    assert reader.search("labels.team:pay AND status:[500 TO 599]", *ALL)["total"] == 1
    assert reader.search("status:>503", *ALL)["total"] == 0


def test_retention_by_age(tmp_path: Path) -> None:
    now = [BASE_MS / 1000 + 3600]
    writer = make_store(tmp_path / "s", retention_age=1800, clock=lambda: now[0])
    write(writer, [record(BASE_MS + i * 60_000, f"minute {i}") for i in range(60)])  # 03:00 .. 03:59
    assert writer.apply_retention() == 30  # older than 03:30
    writer.commit()
    reader = StoreReader(writer.path, reload_interval=0)
    assert reader.search("", *ALL, size=0)["total"] == 30
    assert reader.stats()["oldest"] == BASE_MS + 30 * 60_000
    now[0] += 3600
    writer.apply_retention()
    writer.commit()
    assert reader.search("", *ALL, size=0)["total"] == 0
    writer.close()


def test_retention_by_size_deletes_the_oldest(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s")
    for batch in range(4):
        write(writer, [record(BASE_MS + (batch * 1000 + i) * 1000, f"batch {batch} record {i} " + "x" * 200)
                       for i in range(1000)])
    size = directory_bytes(writer.path)
    writer.retention_bytes = size // 2
    deleted = writer.apply_retention()
    writer.commit()
    assert 0 < deleted < 4000
    reader = StoreReader(writer.path, reload_interval=0)
    left = reader.search("", *ALL, size=1)
    assert left["total"] == 4000 - deleted
    oldest = reader.stats()["oldest"]
    assert oldest == BASE_MS + deleted * 1000  # exactly the oldest ones went
    writer.close()


@pytest.mark.parametrize(("text", "us"), [
    ("2026-12-01T03:00:00.123456789Z", 1_796_094_000_123_456),
    ("2026-12-01T03:00:00Z", 1_796_094_000_000_000),
    ("2026-12-01T03:00:00.5Z", 1_796_094_000_500_000),
    ("2026-12-01T05:00:00.25+02:00", 1_796_094_000_250_000),
    ("2026-12-01 03:00:00", 1_796_094_000_000_000),
    (1_796_094_000.5, 1_796_094_000_500_000),
    (1_796_094_000_500, 1_796_094_000_500_000),
    ("not a time at all", None),
    (None, None),
])
def test_time_parsing(text: object, us: int | None) -> None:
    assert parse_time_us(text) == us


def test_records_without_json_or_time_are_kept(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s", clock=lambda: BASE_MS / 1000)
    writer.add(writer.documents("t", [b"plain text, not JSON", b'["a", "list"]', b'{"msg": "no time"}'], None, None))
    writer.commit()
    reader = StoreReader(writer.path)
    hits = reader.search("", *ALL)["hits"]
    assert sorted(h["message"] for h in hits) == ['["a", "list"]', "no time", "plain text, not JSON"]
    assert {h["time"] for h in hits} == {BASE_MS}
    writer.close()


def test_second_writer_is_refused(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s")
    try:
        with pytest.raises(ValueError):
            StoreWriter(writer.path)
    finally:
        writer.close()


def test_a_chunk_in_slices_keeps_every_record_its_offset_and_one_commit(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s", commit_interval=3600, commit_docs=10**9)
    try:
        first = [orjson.dumps(record(BASE_MS + i, f"a {i}")) for i in range(7)]
        second = [orjson.dumps(record(BASE_MS + 100 + i, f"b {i}")) for i in range(5)]
        gen = writer.add_batches("t", [(first, "file-a", [10 * i for i in range(7)]), (second, "file-b", None)],
                                 slice_size=3)
        assert writer.wait(gen, timeout=0.01) is not None  # not durable before its commit
        writer.commit()
        assert writer.wait(gen, timeout=5) is None
        reader = StoreReader(writer.path, reload_interval=0)
        hits = reader.search("", *ALL, size=100)["hits"]
        assert sorted((h["source"], h["offset"], h["message"]) for h in hits) == sorted(
            [("file-a", 10 * i, f"a {i}") for i in range(7)] + [("file-b", -1, f"b {i}") for i in range(5)])
    finally:
        writer.close()


def test_the_lines_own_time_is_the_event_time(tmp_path: Path) -> None:
    """A JSON line's ``time`` beats ``@timestamp`` (when the line was read, or the runtime's stamp on it); a
    ``time`` that is not a time leaves ``@timestamp`` in charge."""
    writer = make_store(tmp_path / "s")
    read_at = iso(BASE_MS + 3_600_000)
    write(writer, [{"@timestamp": read_at, "time": iso(BASE_MS + 5), "msg": "own time"},
                   {"@timestamp": read_at, "timestamp": "2026-12-01T03:00:00.007+00:00", "msg": "timestamp key"},
                   {"@timestamp": read_at, "time": "12ms", "msg": "not a time"}])
    reader = StoreReader(writer.path)
    times = {h["message"]: h["time"] for h in reader.search("", *ALL)["hits"]}
    assert times == {"own time": BASE_MS + 5, "timestamp key": BASE_MS + 7, "not a time": BASE_MS + 3_600_000}
    writer.close()
