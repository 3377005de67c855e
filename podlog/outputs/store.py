"""The embedded store: records go into a local tantivy index that ``podlog up`` and the search API read."""

from __future__ import annotations

from typing import Any

from podlog.config.errors import ConfigError
from podlog.config.options import Option
from podlog.outputs._base import Chunk, Output, Result

__all__ = ["StoreOutput"]


class StoreOutput(Output):
    """Indexes each chunk into the store at ``path`` and acknowledges it only after the commit that holds it.

    Commits happen about every ``commit_interval`` (sooner once ``commit_docs`` records wait), so all the
    chunks written meanwhile share one commit: ``write`` answers PENDING at once and the delivery layer acks
    each chunk when its commit is durable (or writes it again if the commit failed). Retention runs in the
    background: records older than ``retention`` and, while the store is over ``max_size``, the oldest ones
    are deleted. See docs/store.md.
    """

    name = "store"

    class Options(Output.Options):
        path = Option("str", doc="Directory of the store (created if missing; one agent writes it).")
        commit_interval = Option("duration", 1.0, doc="Commit (make durable and visible) about this often.")
        commit_docs = Option("int", 20000, doc="Commit sooner once this many records wait (small segments merge "
                             "into time-local ones, so a query of an hour skips the segments outside it).")
        retention = Option("duration", 0.0, doc="Delete records older than this (0: keep them).")
        max_size = Option("size", 0, doc="Delete the oldest records while the store is bigger than this (0: no "
                          "limit).")
        retention_check = Option("duration", 30.0, doc="How often retention runs.")
        labels = Option("list", ["app", "app.kubernetes.io/name", "k8s-app"],
                        doc="Kubernetes labels indexed as keyword fields labels.<name> (fixed when the store "
                        "is created).")
        fields = Option("dict", {}, doc="Other record fields to index, name -> keyword or number, e.g. "
                        "{status: number, path: keyword}; dotted names reach into objects. Every field is "
                        "stored and shown either way (fixed when the store is created).")
        index_all_fields = Option("bool", False, doc="Also index every other record field as it comes (field:value "
                                  "and top values on any field; about 40% more indexing CPU). Fixed when the store "
                                  "is created.")
        heap_size = Option("size", 64 * 1024 * 1024, doc="Indexing memory of the writer.")
        threads = Option("int", 1, doc="Indexing threads of the writer.")
        commit_timeout = Option("duration", 60.0, doc="A chunk whose commit takes longer is retried.")
        writer_process = Option("bool", True, doc="Index in a child process of the agent (the agent's Python "
                                "then only reads and parses: about twice the rows per second on two cores); "
                                "false: in the agent's own process.")

    options: Options

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        for name, kind in dict(options.fields).items():
            if kind not in ("keyword", "number"):
                raise ConfigError(options._where.child("fields"),
                                  f"field {name!r}: expected keyword or number, got {kind!r}")
        self.writer: Any = None

    def start(self) -> None:
        o = self.options
        layout: dict[str, Any] = {"labels": [str(x) for x in o.labels],
                                  "fields": {str(k): str(v) for k, v in o.fields.items()},
                                  "all_fields": bool(o.index_all_fields)}
        settings: dict[str, Any] = {
            "commit_interval": o.commit_interval, "commit_docs": o.commit_docs, "heap_bytes": o.heap_size,
            "threads": o.threads, "retention_age": o.retention, "retention_bytes": o.max_size,
            "retention_check": o.retention_check}
        if o.writer_process:
            from podlog.store.process import WriterProcess

            self.writer = WriterProcess({"path": o.path, "layout": layout, **settings})
        else:
            from podlog.store.schema import Layout
            from podlog.store.writer import StoreWriter

            self.writer = StoreWriter(o.path, Layout(**layout), **settings)
        self.writer.start()

    def write(self, chunk: Chunk) -> Result:
        writer = self.writer
        try:
            generation = writer.add_batches(chunk.tag, [(b.docs, b.origin, b.offsets) for b in chunk.batches])
        except Exception as exc:  # the writer refused (e.g. its index is broken): try again later
            return Result.retry(f"store: {exc}")
        timeout = self.options.commit_timeout

        def settle() -> Result:
            failure = writer.wait(generation, timeout)
            return Result.ok() if failure is None else Result.retry(failure)

        return Result.pending(settle)

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
