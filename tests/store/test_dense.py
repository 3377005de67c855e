"""Dense keyword columns (stores of version 2): a record without a keyword field holds a filler value, so top
values read a dense column and take their total from the same pass; the filler never shows: not in top values,
not matched by ``field:*`` or wildcards. A version-1 store (no filler) keeps answering the same."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tantivy")

from podlog.store.query import QuerySyntaxError
from podlog.store.reader import StoreReader
from podlog.store.schema import Layout
from tests.store.helpers import BASE_MS, make_store, record, write


def _store(path: Path, layout: Layout) -> StoreReader:
    writer = make_store(path, layout)
    records = [record(BASE_MS + i, f"r {i}", level="error" if i % 3 == 0 else "info") for i in range(30)]
    records += [record(BASE_MS + 100 + i, f"plain {i}") for i in range(20)]  # no level at all
    write(writer, records)
    writer.close()
    return StoreReader(str(path), reload_interval=0)


@pytest.mark.parametrize("version", [1, 2])
def test_records_without_the_field_never_show_as_a_value(tmp_path: Path, version: int) -> None:
    reader = _store(tmp_path / "s", Layout(version=version))
    assert reader.layout.version == version  # kept with the store
    span = (BASE_MS - 1000, BASE_MS + 10_000)
    top = reader.top("level", "", *span, size=5)
    assert top["total"] == 50
    assert top["values"] == [{"value": "info", "count": 20}, {"value": "error", "count": 10}]
    assert reader.top("level", "plain", *span)["values"] == []
    assert reader.top("level", "plain", *span)["total"] == 20

    def total(q: str) -> int:
        return int(reader.search(q, *span, size=0)["total"])

    assert total("level:*") == 30
    assert total("NOT level:*") == 20
    assert total("level:?????") == 10  # error
    assert total("level:????") == 20  # info
    assert total("level:?") == 0
    with pytest.raises(QuerySyntaxError, match="keyword field"):  # a clear 400, not a crash
        total("level:<f")


def test_new_stores_are_dense(tmp_path: Path) -> None:
    reader = _store(tmp_path / "s", Layout())
    assert reader.layout.dense
    span = (BASE_MS - 1000, BASE_MS + 10_000)
    # The filler is in the column (that is what makes it dense), under a value no record holds.
    assert reader.searcher().aggregate(reader.query("plain", *span)[0],
                                       {"v": {"terms": {"field": "level"}}})["v"]["buckets"] == [
        {"key": "\x00", "doc_count": 20}]


def test_time_windows_are_exact_at_any_boundary(tmp_path: Path) -> None:
    """Version 2 keeps no term index of the time: ranges read the time column, exact to the millisecond on
    both sides of a minute's edge."""
    writer = make_store(tmp_path / "s", Layout())
    times = [BASE_MS + i * 7_499 for i in range(200)]  # every ~7.5 s over 25 minutes, crossing minute edges
    write(writer, [record(ms, f"r {i}") for i, ms in enumerate(times)])
    writer.close()
    reader = StoreReader(str(tmp_path / "s"), reload_interval=0)
    for low, high in [(BASE_MS, BASE_MS + 59_999), (BASE_MS + 59_980, BASE_MS + 60_000),
                      (BASE_MS + 7_499, BASE_MS + 7_499), (BASE_MS + 123_456, BASE_MS + 1_234_567),
                      (BASE_MS - 60_000, BASE_MS + 10_000_000)]:
        expected = sum(low <= ms <= high for ms in times)
        assert reader.search("", low, high, size=0)["total"] == expected, (low, high)
        hits = reader.search("", low, high, size=500)["hits"]
        assert sorted(h["time"] for h in hits) == sorted(ms for ms in times if low <= ms <= high)
