"""Read side of a store: search, histogram, top values, context, tail and export over committed data.

Any number of readers (processes or threads) can open a store while its writer writes; each request sees the
last commit (the index is reloaded at most every ``reload_interval``).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from podlog.store.query import Highlighter, QuerySyntaxError, compile_query
from podlog.store.record import message_of
from podlog.store.schema import NONE, Layout
from podlog.store.writer import directory_bytes

__all__ = ["NotFound", "StoreReader"]

log = logging.getLogger(__name__)

_MAX_I64 = 2**62
TOP_SAMPLE = 10_000      # stored documents read for top values of a field that is not indexed
FIELDS_SAMPLE = 200      # stored documents read to list the fields present
TOP_SEGMENT_SIZE = 65_536  # distinct values per segment up to which top values are exact


class NotFound(LookupError):
    pass


class StoreReader:
    def __init__(self, path: str, reload_interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import tantivy

        self.t = tantivy
        self.path = path
        layout = Layout.load(path)
        if layout is None or not tantivy.Index.exists(path):
            raise FileNotFoundError(f"no podlog store at {path} (start the agent with a store output first)")
        self.layout = layout
        self.index = Layout.prepare(tantivy.Index.open(path))
        self.schema = self.index.schema
        self.reload_interval = reload_interval
        self._reloaded = 0.0
        self._lock = threading.Lock()
        self._rates: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)
        self.clock = clock
        self._sampler: threading.Thread | None = None

    # --- plumbing --------------------------------------------------------------------------------------------

    def searcher(self) -> Any:
        now = time.monotonic()
        if now - self._reloaded >= self.reload_interval:
            with self._lock:
                if now - self._reloaded >= self.reload_interval:
                    try:
                        self.index.reload()
                    except ValueError as exc:  # the writer's cleanup raced us: keep the last view this time
                        log.debug("store reload failed, using the previous commit: %s", exc)
                    self._reloaded = now
        return self.index.searcher()

    def query(self, q: str, from_ms: int | None = None, to_ms: int | None = None) -> tuple[Any, Any]:
        """(tantivy query with the time range, AST)."""
        t = self.t
        query, ast = compile_query(q or "", self.index, self.layout)
        if from_ms is None and to_ms is None:
            return query, ast
        low = from_ms * 1000 if from_ms is not None else -_MAX_I64
        high = to_ms * 1000 + 999 if to_ms is not None else _MAX_I64
        return t.Query.boolean_query([(t.Occur.Must, self.window(low, high)), (t.Occur.Must, query)]), ast

    def window(self, low_us: int, high_us: int) -> Any:
        """Records with ``low_us <= time <= high_us`` (a range on the time column; tantivy's range over the
        time's term index is ~10x slower, and ANDing a coarser indexed minute with it helped in one segment
        layout and cost 20-40% more in another, so neither is used)."""
        t = self.t
        return t.Query.range_query(self.schema, "ts", t.FieldType.Integer, low_us, high_us)

    def _hits(self, searcher: Any, addresses: list[Any], highlighter: Highlighter | None) -> list[dict[str, Any]]:
        if not addresses:
            return []
        seqs = searcher.fast_field_values("seq", addresses)
        times = searcher.fast_field_values("ts", addresses)
        offsets = searcher.fast_field_values("offset", addresses)
        out = []
        for addr, seq, ts, offset in zip(addresses, seqs, times, offsets, strict=True):
            stored = searcher.doc(addr)
            raw = stored.get_first("src")
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                record = None
            if not isinstance(record, dict):  # stored as it came: show it as the message, like the writer
                record = {"message": raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")}
            message = message_of(record)
            out.append({"id": str(seq), "time": ts // 1000, "message": message,
                        "fields": record, "highlight": highlighter.spans(message) if highlighter else [],
                        "tag": stored.get_first("tag"), "source": stored.get_first("source"), "offset": offset})
        return out

    # --- queries ---------------------------------------------------------------------------------------------

    def search(self, q: str, from_ms: int, to_ms: int, size: int = 100, offset: int = 0) -> dict[str, Any]:
        start = time.perf_counter()
        query, ast = self.query(q)
        searcher = self.searcher()
        total = self.count(self._within(query, from_ms * 1000, to_ms * 1000 + 999))
        addresses = self._newest(searcher, query, from_ms * 1000, to_ms * 1000 + 999, size, offset) if size else []
        hits = self._hits(searcher, addresses, Highlighter(ast, self.layout))
        return {"total": total, "took_ms": round((time.perf_counter() - start) * 1000, 3), "hits": hits}

    def _within(self, query: Any, low_us: int, high_us: int) -> Any:
        t = self.t
        return t.Query.boolean_query([(t.Occur.Must, self.window(low_us, high_us)), (t.Occur.Must, query)])

    def _newest(self, searcher: Any, query: Any, low_us: int, high_us: int, size: int, offset: int) -> list[Any]:
        """The newest matches, looked for in the last 1/64 of the range first, widened 8x until enough are found:
        sorting by time costs per match, and the newest page of a busy hour is in its last minute."""
        span = high_us - low_us
        window = max(span // 64, 60_000_000)
        while True:
            lo = max(low_us, high_us - window)
            found = searcher.search(self._within(query, lo, high_us), size, count=False, order_by_field="ts",
                                    offset=offset, order=self.t.Order.Desc).hits
            if len(found) >= size or lo == low_us:
                return [addr for _, addr in found]
            window *= 8

    def count(self, query: Any) -> int:
        """Matches of ``query``: a count aggregation over the time column (every record has one), which skips
        the scoring a search does (~30% less CPU when a range holds a million records)."""
        result = self.searcher().aggregate(query, {"n": {"value_count": {"field": "ts"}}})
        return int(result["n"]["value"] or 0)

    def histogram(self, q: str, from_ms: int, to_ms: int, interval_ms: int) -> dict[str, Any]:
        query, _ = self.query(q, from_ms, to_ms)
        first = from_ms - from_ms % interval_ms
        agg = {"h": {"histogram": {"field": "ts", "interval": interval_ms * 1000, "min_doc_count": 0,
                                   "extended_bounds": {"min": first * 1000, "max": to_ms * 1000}}}}
        result = self.searcher().aggregate(query, agg)
        counts = {int(b["key"]) // 1000: int(b["doc_count"]) for b in result["h"]["buckets"]}
        buckets = [{"t": t, "count": counts.get(t, 0)} for t in range(first, to_ms + 1, interval_ms)]
        return {"interval_ms": interval_ms, "buckets": buckets}

    def column(self, name: str) -> tuple[str, str] | None:
        return self.layout.resolve(name)

    def top(self, name: str, q: str, from_ms: int, to_ms: int, size: int = 10) -> dict[str, Any]:
        query, _ = self.query(q, from_ms, to_ms)
        resolved = self.column(name)
        if resolved is not None and resolved[1] == "text":
            raise QuerySyntaxError(f"{name} is full text: top values need a keyword or number field", None)
        if resolved is None or resolved[1] == "time":
            return self._top_sampled(name, query, self.count(query), size)
        column, kind = resolved
        searcher = self.searcher()
        # Each segment reports up to segment_size values: exact while a segment holds fewer distinct values.
        segment_size = max(size * 100, TOP_SEGMENT_SIZE)
        if kind == "keyword" and self.layout.dense:
            # Every record holds one value (NONE when it lacks the field), so the buckets also sum to the total
            # of matches: one pass over a dense column, no second count.
            agg = {"v": {"terms": {"field": column, "size": size + 1, "segment_size": segment_size}}}
            result = searcher.aggregate(query, agg)["v"]
            total = sum(int(b["doc_count"]) for b in result["buckets"]) + int(result.get("sum_other_doc_count", 0))
            values = [[b["key"], int(b["doc_count"])] for b in result["buckets"] if b["key"] != NONE][:size]
        else:
            # The total of matches comes from the same pass over them (every record has a time), not a second one.
            agg = {"v": {"terms": {"field": column, "size": size, "segment_size": segment_size}},
                   "n": {"value_count": {"field": "ts"}}}
            both = searcher.aggregate(query, agg)
            result, total = both["v"], int(both["n"]["value"] or 0)
            values = [[b["key"], int(b["doc_count"])] for b in result["buckets"]]
        out: dict[str, Any] = {"field": name, "total": total}
        if result.get("doc_count_error_upper_bound", 0):
            values = self._recount(values, query, column, kind)  # exact counts; the list itself may miss one
            out["approximate"] = True
        out["values"] = [{"value": _text(v), "count": c} for v, c in values]
        return out

    def _recount(self, values: list[list[Any]], query: Any, column: str, kind: str) -> list[list[Any]]:
        """Exact counts for the candidates (per-segment top lists can undercount across segments)."""
        t = self.t
        out = []
        for value, _ in values:
            term = t.Query.term_query(self.schema, column, float(value) if kind == "number" else value)
            both = t.Query.boolean_query([(t.Occur.Must, query), (t.Occur.Must, term)])
            out.append([value, self.count(both)])
        out.sort(key=lambda vc: -vc[1])
        return out

    def _top_sampled(self, name: str, query: Any, total: int, size: int) -> dict[str, Any]:
        """A field that is only stored: counted over the newest TOP_SAMPLE matches (said in ``sampled``)."""
        searcher = self.searcher()
        result = searcher.search(query, TOP_SAMPLE, count=False, order_by_field="ts", order=self.t.Order.Desc)
        counts: collections.Counter[str] = collections.Counter()
        path = name.split(".")
        for _, addr in result.hits:
            try:
                record = orjson.loads(searcher.doc(addr).get_first("src"))
            except orjson.JSONDecodeError:
                continue
            value: Any = record
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None and not isinstance(value, (dict, list)):
                counts[_text(value)] += 1
        return {"field": name, "total": total, "sampled": len(result.hits),
                "values": [{"value": v, "count": c} for v, c in counts.most_common(size)]}

    def fields(self, q: str, from_ms: int, to_ms: int) -> dict[str, Any]:
        """Indexed fields, then the stored ones seen in the newest matches."""
        out: dict[str, dict[str, Any]] = {}
        for name, (_, kind) in self.layout.columns().items():
            out[name] = {"name": name, "type": kind, "indexed": True}
        query, _ = self.query(q, from_ms, to_ms)
        searcher = self.searcher()
        result = searcher.search(query, FIELDS_SAMPLE, count=False, order_by_field="ts", order=self.t.Order.Desc)
        for _, addr in result.hits:
            try:
                record = orjson.loads(searcher.doc(addr).get_first("src"))
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                for name, value in _flatten(record):
                    resolved = self.layout.resolve(name)
                    if name not in out and (resolved is None or resolved[1] == "json"):
                        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                        kind = "number" if numeric else "keyword"
                        out[name] = {"name": name, "type": kind, "indexed": resolved is not None}
        return {"fields": list(out.values())}

    def doc(self, doc_id: str) -> dict[str, Any]:
        addr, searcher = self._address(doc_id)
        return self._hits(searcher, [addr], None)[0]

    def _address(self, doc_id: str) -> tuple[Any, Any]:
        try:
            seq = int(doc_id)
        except ValueError:
            raise NotFound(doc_id) from None
        searcher = self.searcher()
        hits = searcher.search(self.t.Query.term_query(self.schema, "seq", seq), 1, count=False).hits
        if not hits:
            raise NotFound(doc_id)
        return hits[0][1], searcher

    def context(self, doc_id: str, before: int = 10, after: int = 10) -> dict[str, Any]:
        """Records around one from the same source, in file order (by offset; by arrival without offsets)."""
        t = self.t
        addr, searcher = self._address(doc_id)
        hit = self._hits(searcher, [addr], None)[0]
        same = t.Query.term_query(self.schema, "source", hit["source"])
        key, pivot = ("offset", hit["offset"]) if hit["offset"] >= 0 else ("seq", int(hit["id"]))

        def side(n: int, older: bool) -> list[dict[str, Any]]:
            """Sorting costs per match: look near the pivot first (n lines of ~2 KB, by offset), then wider."""
            if n <= 0:
                return []
            reach = n * (2048 if key == "offset" else 4)
            while True:
                lo, hi = (pivot - reach, pivot - 1) if older else (pivot + 1, pivot + reach)
                window = t.Query.range_query(self.schema, key, t.FieldType.Integer, lo, hi)
                query = t.Query.boolean_query([(t.Occur.Must, same), (t.Occur.Must, window)])
                found = searcher.search(query, n, count=False, order_by_field=key,
                                        order=t.Order.Desc if older else t.Order.Asc).hits
                if len(found) >= n or reach >= _MAX_I64 // 2:
                    return self._hits(searcher, [a for _, a in found], None)
                reach = min(reach * 16, _MAX_I64 // 2)

        older = side(before, older=True)
        newer = side(after, older=False)
        return {"before": older[::-1], "hit": hit, "after": newer}

    def max_seq(self) -> int:
        searcher = self.searcher()
        if searcher.num_docs == 0:
            return 0
        hits = searcher.search(self.t.Query.all_query(), 1, count=False, order_by_field="seq").hits
        return int(searcher.fast_field_values("seq", [hits[0][1]])[0]) if hits else 0

    def since(self, q: str, after_seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Matches committed after ``after_seq``, oldest first (the live tail)."""
        t = self.t
        query, ast = self.query(q)
        newer = t.Query.range_query(self.schema, "seq", t.FieldType.Integer, after_seq + 1, _MAX_I64)
        both = t.Query.boolean_query([(t.Occur.Must, newer), (t.Occur.Must, query)])
        searcher = self.searcher()
        found = searcher.search(both, limit, count=False, order_by_field="seq", order=t.Order.Asc).hits
        return self._hits(searcher, [a for _, a in found], Highlighter(ast, self.layout))

    def export(self, q: str, from_ms: int, to_ms: int, page: int = 1000) -> Iterator[dict[str, Any]]:
        """Every match, newest first, without deep offsets: each page continues at the last time seen,
        skipping the records of that microsecond already sent."""
        t = self.t
        query, _ = self.query(q, from_ms, to_ms)
        low, cursor = from_ms * 1000, to_ms * 1000 + 999
        sent_at_cursor: set[int] = set()
        while True:
            window = self.window(low, cursor)
            both = t.Query.boolean_query([(t.Occur.Must, window), (t.Occur.Must, query)])
            searcher = self.searcher()
            want = page + len(sent_at_cursor)
            found = [a for _, a in searcher.search(both, want, count=False, order_by_field="ts",
                                                   order=t.Order.Desc).hits]
            times = searcher.fast_field_values("ts", found) if found else []
            seqs = searcher.fast_field_values("seq", found) if found else []
            keep = [(a, ts, seq) for a, ts, seq in zip(found, times, seqs, strict=True)
                    if not (ts == cursor and seq in sent_at_cursor)]
            if not keep:
                return
            yield from self._hits(searcher, [a for a, _, _ in keep], None)
            last = keep[-1][1]
            same = {seq for _, ts, seq in keep if ts == last}
            sent_at_cursor = sent_at_cursor | same if last == cursor else same
            cursor = last
            if len(found) < want:
                return

    def stats(self) -> dict[str, Any]:
        searcher = self.searcher()
        docs = int(searcher.num_docs)
        oldest = newest = None
        if docs:
            for order in (self.t.Order.Asc, self.t.Order.Desc):
                hits = searcher.search(self.t.Query.all_query(), 1, count=False, order_by_field="ts",
                                       order=order).hits
                if hits:
                    value = int(searcher.fast_field_values("ts", [hits[0][1]])[0]) // 1000
                    oldest, newest = (value, newest) if order == self.t.Order.Asc else (oldest, value)
        return {"docs": docs, "bytes": directory_bytes(self.path), "ingest_rate": self.ingest_rate(),
                "oldest": oldest, "newest": newest, "path": os.path.abspath(self.path)}

    def sample_rate(self) -> None:
        """Record (time, newest id): ``ingest_rate`` is the slope over the last ~10 s."""
        self._rates.append((self.clock(), self.max_seq()))

    def start_sampler(self, interval: float = 1.0) -> None:
        """Sample once a second in the background, so the first ``stats`` already knows the rate."""
        if self._sampler is not None:
            return

        def run() -> None:
            while True:
                try:
                    self.sample_rate()
                except Exception:  # a store being replaced under us: try again next time
                    pass
                time.sleep(interval)

        self._sampler = threading.Thread(target=run, name="store-rate", daemon=True)
        self._sampler.start()

    def ingest_rate(self) -> float:
        """Records per second committed over the last ~10 s (from the ids, which count every record)."""
        self.sample_rate()
        now, seq = self._rates[-1]
        for when, old in self._rates:
            if 1.0 <= now - when <= 11.0:
                return round((seq - old) / (now - when), 1)
        return 0.0


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _flatten(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in record.items():
        name = prefix + key
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif not isinstance(value, list):
            yield name, value
