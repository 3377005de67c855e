"""Batch (the unit that moves through the pipeline) and Ack (how its destinations report back)."""

from __future__ import annotations

import threading

import orjson
import pytest

from podlog.batch import RECORD_OVERHEAD, Ack, Batch


def test_ack_fires_once_when_the_creator_and_every_destination_released() -> None:
    done: list[Ack] = []
    ack = Ack(done.append)
    ack.retain(2)  # two destinations (copy)
    ack.release()  # the creator: routing finished
    ack.release()
    assert done == [] and ack.pending == 1
    ack.release()
    assert done == [ack] and ack.pending == 0


def test_ack_counts_are_exact_under_concurrent_releases() -> None:
    done: list[Ack] = []
    ack = Ack(done.append)
    ack.retain(8 * 1000)
    threads = [threading.Thread(target=lambda: [ack.release() for _ in range(1000)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == [] and ack.pending == 1
    ack.release()
    assert done == [ack]


def test_batch_needs_exactly_one_form() -> None:
    with pytest.raises(ValueError):
        Batch("t")
    with pytest.raises(ValueError):
        Batch("t", docs=[b"{}"], records=[{}])


def test_docs_and_records_convert_on_demand() -> None:
    batch = Batch("t", docs=[b'{"a":1}', b'{"a":2}'])
    records = batch.records
    assert records == [{"a": 1}, {"a": 2}] and not batch.has_docs()  # asked for records: they may change
    records[0]["a"] = 10
    assert [orjson.loads(d) for d in batch.docs] == [{"a": 10}, {"a": 2}]


def test_keep_drops_in_both_forms_and_keeps_offsets_aligned() -> None:
    batch = Batch("t", docs=[b'{"n":0}', b'{"n":1}', b'{"n":2}'], offsets=[0, 10, 20])
    assert batch.keep([True, False, True]) == 1
    assert batch.docs == [b'{"n":0}', b'{"n":2}'] and batch.offsets == [0, 20]
    batch.records  # noqa: B018 - switch to the decoded form
    assert batch.keep([False, True]) == 1
    assert batch.records == [{"n": 2}] and batch.offsets == [20] and len(batch) == 1


def test_replace_swaps_records_and_offsets() -> None:
    batch = Batch("t", docs=[b'{"n":0}'], offsets=[5])
    batch.replace([{"n": 0}, {"n": 0, "copy": True}], offsets=[5, 5])
    assert len(batch) == 2 and batch.offsets == [5, 5] and not batch.has_docs()


def test_sizes_payload_and_held() -> None:
    batch = Batch("t", records=[{"m": "x"}, {"m": "yy"}])
    payload = len(b'{"m":"x"}') + len(b'{"m":"yy"}') + 2  # newline per document
    assert batch.byte_size() == payload
    assert batch.held_size() == payload - 2 + 2 * RECORD_OVERHEAD
    assert batch.has_docs() and batch._records is None  # held: documents only
