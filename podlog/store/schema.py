"""What the store keeps of a record, and under which names users query it.

Kept per record: the original JSON (stored, not indexed: the document a hit shows), the message as text
(indexed with positions for phrases), the time in microseconds (fast: sorting, ranges, histograms), the
Kubernetes fields and the configured extra fields as fast keyword/number columns, the source identity and
offset (context in file order) and a sequence number (the document id, and the tail's cursor).

Microseconds because histogram aggregations compute in f64, which holds microsecond epochs exactly.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KEYWORDS", "META_FILE", "NONE", "Layout", "field_internal"]

META_FILE = "podlog-store.json"

# User-facing keyword fields -> where their value is found in a record (first hit wins).
KEYWORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "namespace": (("kubernetes", "namespace_name"), ("namespace",)),
    "pod": (("kubernetes", "pod_name"), ("pod",)),
    "container": (("kubernetes", "container_name"), ("container",)),
    "node": (("kubernetes", "host"), ("node",)),
    "stream": (("stream",),),
    "level": (("level",), ("severity",), ("log_level",), ("loglevel",)),
    "tag": (),  # the record's tag, not a record field
}
# Query-time aliases (Kibana users type the Fluentd names).
ALIASES = {
    "kubernetes.namespace_name": "namespace", "kubernetes.pod_name": "pod",
    "kubernetes.container_name": "container", "kubernetes.host": "node",
    "severity": "level", "msg": "message", "log": "message", "@timestamp": "time", "ts": "time",
}
MESSAGE_KEYS = ("message", "msg", "log")
# Record keys kept in their own columns, so not repeated in ``attrs``.
EXTRACTED = frozenset({"@timestamp", "time", "stream", "level", "severity", *MESSAGE_KEYS})
K8S_EXTRACTED = frozenset({"pod_name", "namespace_name", "container_name", "host"})
_SAFE = re.compile(r"[^A-Za-z0-9_]")
# Stores of version 2 give a record without a keyword field this value in that column, so every keyword column
# holds one value per record: tantivy then reads it as a dense column, and top values over a million records
# cost about a third (an optional column looks every record up in its index of present ones). No record holds
# a NUL character as a whole value; queries and top values leave it out (see query.py, reader.py).
NONE = "\x00"
LAYOUT_VERSION = 2  # 2: dense keyword columns, the record stored as text
STORED_ONLY = "podlog_stored_only"  # a tokenizer that keeps no token: a text field only stored


def field_internal(prefix: str, name: str) -> str:
    """A schema-safe field name for a user field name (labels and extra fields may hold dots and slashes)."""
    return prefix + _SAFE.sub("_", name)


@dataclass
class Layout:
    """The schema of one store, saved next to the index so every reader maps names the same way."""

    labels: list[str] = field(default_factory=lambda: ["app", "app.kubernetes.io/name", "k8s-app"])
    fields: dict[str, str] = field(default_factory=dict)  # extra record field -> "keyword" | "number"
    all_fields: bool = False  # every other record field too, in one JSON column (costs ~40% more indexing CPU)
    version: int = LAYOUT_VERSION  # 1: keyword columns hold nothing for a record without the field

    @property
    def dense(self) -> bool:
        """Keyword columns hold NONE for a record without the field (version 2 on)."""
        return self.version >= 2

    def keyword_columns(self) -> list[str]:
        """Schema fields of every keyword column (the writer fills the missing ones with NONE)."""
        return [column for column, kind in self.columns().values() if kind == "keyword"]

    # --- user name -> (schema field, type) -------------------------------------------------------------------

    def columns(self) -> dict[str, tuple[str, str]]:
        """User-facing name -> (schema field, type) for every queryable field."""
        out: dict[str, tuple[str, str]] = {"message": ("message", "text"), "time": ("ts", "time"),
                                           "source": ("source", "keyword"), "offset": ("offset", "number")}
        for name in KEYWORDS:
            out[name] = (name, "keyword")
        for label in self.labels:
            out[f"labels.{label}"] = (field_internal("l_", label), "keyword")
        for name, kind in self.fields.items():
            out[name] = (field_internal("f_", name), kind)
        return out

    def resolve(self, name: str) -> tuple[str, str] | None:
        cols = self.columns()
        name = ALIASES.get(name, name)
        if name.startswith("kubernetes.labels."):
            name = name[len("kubernetes."):]
        found = cols.get(name)
        if found is None and self.all_fields and name and name not in EXTRACTED:
            return ("attrs." + name, "json")  # every other record field, indexed as it comes
        return found

    # --- tantivy schema ------------------------------------------------------------------------------------------

    def schema(self) -> Any:
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("seq", stored=False, indexed=True, fast=True)
        # Ranges of time read the fast column; a term index of its nearly distinct values is never used (tantivy's
        # inverted range over them is ~10x slower), so version 2 does not build one.
        sb.add_integer_field("ts", stored=False, indexed=not self.dense, fast=True)
        sb.add_text_field("message", stored=False, tokenizer_name="default", index_option="position")
        if self.dense:  # the record as text, stored only (its tokenizer keeps no token): no base64 either way
            sb.add_text_field("src", stored=True, tokenizer_name=STORED_ONLY, index_option="basic")
        else:
            sb.add_bytes_field("src", stored=True, indexed=False, fast=False)
        sb.add_text_field("source", stored=True, tokenizer_name="raw", fast=True, index_option="basic")
        # The offset is only queried by ranges (context, offset:N): the fast column serves them, and a term
        # index of its nearly distinct values would cost indexing time and bytes for little.
        sb.add_integer_field("offset", stored=False, indexed=False, fast=True)
        sb.add_json_field("attrs", stored=False, tokenizer_name="raw", fast=True, index_option="basic")
        for name in KEYWORDS:
            sb.add_text_field(name, stored=name == "tag", tokenizer_name="raw", fast=True, index_option="basic")
        for label in self.labels:
            sb.add_text_field(field_internal("l_", label), stored=False, tokenizer_name="raw", fast=True,
                              index_option="basic")
        for name, kind in self.fields.items():
            if kind == "number":
                sb.add_float_field(field_internal("f_", name), stored=False, indexed=True, fast=True)
            else:
                sb.add_text_field(field_internal("f_", name), stored=False, tokenizer_name="raw", fast=True,
                                  index_option="basic")
        return sb.build()

    @staticmethod
    def prepare(index: Any) -> Any:
        """Register the tokenizers the schema names (tantivy keeps them per opened index, not in the store)."""
        import tantivy

        index.register_tokenizer(STORED_ONLY, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw())
                                 .filter(tantivy.Filter.remove_long(0)).build())
        return index

    # --- persistence -------------------------------------------------------------------------------------------

    def save(self, directory: str) -> None:
        tmp = os.path.join(directory, META_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump({"version": self.version, "labels": self.labels, "fields": self.fields,
                       "all_fields": self.all_fields}, f)
        os.replace(tmp, os.path.join(directory, META_FILE))

    @classmethod
    def load(cls, directory: str) -> Layout | None:
        try:
            with open(os.path.join(directory, META_FILE)) as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        return cls(labels=list(data.get("labels", [])), fields=dict(data.get("fields", {})),
                   all_fields=bool(data.get("all_fields", False)), version=int(data.get("version", 1)))
