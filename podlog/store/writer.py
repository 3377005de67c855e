"""The one writer of a store: adds batches, commits by time, applies retention in the background.

``add`` returns the commit generation that will hold the documents and ``wait`` blocks until that commit is
durable (tantivy has fsynced the segment and the meta file), so the output acknowledges a chunk only when a
kill -9 can no longer lose it. Commits happen about every ``commit_interval`` (or sooner once enough documents
wait), not per chunk: several chunks share one commit.
"""

from __future__ import annotations

import binascii
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from podlog.store.record import keyword, lookup, message_of, time_us
from podlog.store.schema import EXTRACTED, K8S_EXTRACTED, NONE, Layout, field_internal

__all__ = ["StoreWriter", "directory_bytes"]

_K8S_COLUMNS = (("namespace_name", "namespace"), ("pod_name", "pod"), ("container_name", "container"),
                ("host", "node"))

log = logging.getLogger(__name__)


def directory_bytes(path: str) -> int:
    total = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    except FileNotFoundError:
        return 0
    return total


def open_index(path: str, layout: Layout) -> tuple[Any, Layout]:
    """Open the store at ``path`` (created if missing); an existing store keeps the layout it was made with."""
    import tantivy

    os.makedirs(path, exist_ok=True)
    saved = Layout.load(path)
    if saved is not None and tantivy.Index.exists(path):
        if (saved.labels, saved.fields, saved.all_fields) != (layout.labels, layout.fields, layout.all_fields):
            log.warning("store %s keeps the labels and fields it was created with (labels %s, fields %s, "
                        "index_all_fields %s); new ones take a new store path", path, saved.labels, saved.fields,
                        saved.all_fields)
        return Layout.prepare(tantivy.Index.open(path)), saved
    index = Layout.prepare(tantivy.Index(layout.schema(), path=path, reuse=False))
    layout.save(path)
    return index, layout


class StoreWriter:
    """Owns the tantivy IndexWriter (one per store: tantivy locks the directory against a second writer)."""

    def __init__(self, path: str, layout: Layout | None = None, *, commit_interval: float = 1.0,
                 commit_docs: int = 20000, heap_bytes: int = 64 * 1024 * 1024, threads: int = 1,
                 retention_age: float = 0.0, retention_bytes: int = 0, retention_check: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.index, self.layout = open_index(path, layout or Layout())
        self.writer = self.index.writer(heap_bytes, threads)
        self.commit_interval = commit_interval
        self.commit_docs = commit_docs
        self.retention_age = retention_age
        self.retention_bytes = retention_bytes
        self.retention_check = retention_check
        self.clock = clock
        self._cond = threading.Condition()
        self._open_gen = 1          # the generation new documents join
        self._committed_gen = 0     # every generation <= this one is durable
        self._failed: dict[int, str] = {}
        self._uncommitted = 0
        self._dirty = False         # deletes waiting for a commit
        self._last_commit = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.next_seq = self._max_seq() + 1
        self._labels = [(label, field_internal("l_", label)) for label in self.layout.labels]
        self._extra = [(tuple(name.split(".")), field_internal("f_", name), kind)
                       for name, kind in self.layout.fields.items()]
        self.deleted = 0
        self._dense = self.layout.keyword_columns() if self.layout.dense else []

    def _max_seq(self) -> int:
        import tantivy

        self.index.reload()
        searcher = self.index.searcher()
        if searcher.num_docs == 0:
            return 0
        hits = searcher.search(tantivy.Query.all_query(), 1, count=False, order_by_field="seq").hits
        return int(searcher.fast_field_values("seq", [hits[0][1]])[0]) if hits else 0

    def start(self) -> None:
        for target, name in ((self._commit_loop, "store-commit"), (self._retention_loop, "store-retention")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    # --- writing ---------------------------------------------------------------------------------------------

    def documents(self, tag: str, docs: Iterable[bytes], source: str | None,
                  offsets: list[int] | None) -> list[dict[str, Any]]:
        """The store's columns of each record of one batch, as dicts ``add`` hands to tantivy as JSON (seq is
        assigned there, under the lock).

        The hot path (see docs/store.md, "Ingest speed"): one JSON text per document parsed by tantivy costs
        about half the Python time of a Document built field by field, and the lookups are plain dict gets."""
        now = int(self.clock() * 1_000_000)
        source = source or tag
        labels_wanted = self._labels
        extra = self._extra
        all_fields = self.layout.all_fields
        loads = orjson.loads
        b64 = binascii.b2a_base64
        text_src = self.layout.dense
        template: dict[str, Any] = dict.fromkeys(self._dense, NONE)
        template["tag"] = tag
        template["source"] = source
        out: list[dict[str, Any]] = []
        append = out.append
        for i, raw in enumerate(docs):
            try:
                record = loads(raw)
            except orjson.JSONDecodeError:
                record = None
            if type(record) is not dict:
                record = {"message": raw.decode("utf-8", "replace")}
            doc = template.copy()  # every keyword column NONE (dense stores), then what the record has
            doc["ts"] = time_us(record, now)
            doc["message"] = message_of(record)
            doc["src"] = raw.decode("utf-8", "replace") if text_src else b64(raw, newline=False).decode("ascii")
            doc["offset"] = offsets[i] if offsets is not None and i < len(offsets) else -1
            k8s = record.get("kubernetes")
            if type(k8s) is dict:
                for key, column in _K8S_COLUMNS:
                    value = k8s.get(key)
                    if value is not None:
                        doc[column] = value if type(value) is str else str(value)
                labels = k8s.get("labels")
                if labels_wanted and type(labels) is dict:
                    for label, column in labels_wanted:
                        value = labels.get(label)
                        if value is not None:
                            doc[column] = value if type(value) is str else str(value)
            else:
                for name in ("namespace", "pod", "container", "node"):
                    value = keyword(record, name)
                    if value is not None:
                        doc[name] = value
            value = record.get("stream")
            if type(value) is str:
                doc["stream"] = value
            value = record.get("level")
            if type(value) is str:
                doc["level"] = value
            else:
                value = keyword(record, "level")
                if value is not None:
                    doc["level"] = value
            for path, column, kind in extra:
                value = record.get(path[0]) if len(path) == 1 else lookup(record, path)
                if value is None or isinstance(value, (dict, list)):
                    continue
                if kind == "number":
                    try:
                        number = float(value)
                    except (TypeError, ValueError):
                        continue
                    if math.isfinite(number):  # JSON (tantivy's input) has no infinities or NaN
                        doc[column] = number
                else:
                    doc[column] = value if type(value) is str else str(value)
            if all_fields:
                attrs = {k: v for k, v in record.items() if k not in EXTRACTED}
                if type(k8s) is dict:
                    attrs["kubernetes"] = {k: v for k, v in k8s.items() if k not in K8S_EXTRACTED}
                if attrs:
                    doc["attrs"] = attrs
            append(doc)
        return out

    def add_batches(self, tag: str, batches: Iterable[tuple[list[bytes], str | None, list[int] | None]],
                    slice_size: int = 2000) -> int:
        """Index a chunk's batches (docs, source, offsets), ``slice_size`` records at a time; returns the
        generation whose commit makes them durable.

        Slices bound the memory of the intermediate dicts. The lock is held across the slices so the whole chunk
        joins one commit (a failed commit sends back whole chunks, never one that was partly made durable)."""
        with self._cond:
            for docs, source, offsets in batches:
                for start in range(0, len(docs), slice_size):
                    part = offsets[start:start + slice_size] if offsets is not None else None
                    self.add(self.documents(tag, docs[start:start + slice_size], source, part))
            return self._open_gen

    def add(self, documents: list[dict[str, Any]]) -> int:
        """Queue documents (from ``documents``); returns the generation whose commit makes them durable."""
        dumps = orjson.dumps
        with self._cond:
            add_json = self.writer.add_json
            seq = self.next_seq
            try:
                for doc in documents:
                    doc["seq"] = seq
                    add_json(dumps(doc).decode())
                    seq += 1
            finally:
                self._uncommitted += seq - self.next_seq
                self.next_seq = seq
            if self._uncommitted >= self.commit_docs:
                self._cond.notify_all()  # wakes the commit loop early
            return self._open_gen

    def wait(self, generation: int, timeout: float) -> str | None:
        """Block until ``generation`` is committed: None when durable, else the reason it is not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._committed_gen < generation:
                if generation in self._failed:
                    return self._failed[generation]
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return "store commit did not happen in time"
                self._cond.wait(min(left, 0.5))
            return self._failed.get(generation)

    def commit(self) -> None:
        """Commit now what was added (callers hold no lock)."""
        with self._cond:
            self._commit_locked()

    def _commit_locked(self) -> None:
        gen = self._open_gen
        self._open_gen += 1
        try:
            self.writer.commit()
        except BaseException as exc:  # disk full, I/O error, a tantivy panic: these chunks are written again
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            log.error("store commit failed: %s", exc)
            self._failed[gen] = f"store commit failed: {exc}"
            try:
                self.writer.rollback()
            except Exception:
                log.exception("store rollback failed")
        self._committed_gen = gen
        self._uncommitted = 0
        self._dirty = False
        self._last_commit = time.monotonic()
        if len(self._failed) > 1000:
            self._failed.clear()
        self._cond.notify_all()

    def _commit_loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                due = self._last_commit + self.commit_interval
                wait = due - time.monotonic()
                if self._uncommitted < self.commit_docs and wait > 0:
                    self._cond.wait(min(wait, 0.5))
                    continue
                if self._uncommitted or self._dirty:
                    self._commit_locked()
                else:
                    self._last_commit = time.monotonic()

    # --- retention -------------------------------------------------------------------------------------------

    def _retention_loop(self) -> None:
        while not self._stop.wait(self.retention_check):
            try:
                self.apply_retention()
            except Exception:
                log.exception("store retention failed (will try again)")

    def apply_retention(self) -> int:
        """Delete records older than ``retention_age`` and, beyond ``retention_bytes``, the oldest ones."""
        import tantivy

        deleted = 0
        schema = self.index.schema
        if self.retention_age > 0:
            cutoff = int((self.clock() - self.retention_age) * 1_000_000)
            deleted += self._delete_before(schema, cutoff)
        if self.retention_bytes > 0:
            size = directory_bytes(self.path)
            if size > self.retention_bytes:
                self.index.reload()
                searcher = self.index.searcher()
                total = searcher.num_docs
                share = min(0.5, (size - self.retention_bytes) / size + 0.05)
                rank = int(total * share)
                if total and rank:
                    hits = searcher.search(tantivy.Query.all_query(), 1, count=False, order_by_field="ts",
                                           offset=rank, order=tantivy.Order.Asc).hits
                    if hits:
                        cutoff = int(searcher.fast_field_values("ts", [hits[0][1]])[0])
                        deleted += self._delete_before(schema, cutoff)
                        log.info("store %s is %d bytes (limit %d): deleting records before %d us",
                                 self.path, size, self.retention_bytes, cutoff)
        if deleted:
            self.deleted += deleted
        return deleted

    def _delete_before(self, schema: Any, cutoff_us: int) -> int:
        import tantivy

        query = tantivy.Query.range_query(schema, "ts", tantivy.FieldType.Integer, -(2**62), cutoff_us,
                                          include_lower=True, include_upper=False)
        self.index.reload()
        count = self.index.searcher().search(query, 1, count=True).count or 0
        if count:
            with self._cond:
                self.writer.delete_documents_by_query(query)
                self._dirty = True
                self._cond.notify_all()
        return count

    # --- lifecycle -------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is pending and release the writer lock."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        with self._cond:
            if self._uncommitted or self._dirty:
                self._commit_locked()
            self._cond.notify_all()
        try:
            self.writer.wait_merging_threads()
        except Exception:
            pass
