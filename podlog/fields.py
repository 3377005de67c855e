"""Field access shared by the filters and the metrics rules: keys, a few fields of a whole batch, patterns.

Most filters look at one or two fields (a namespace, a level, a trace id) of
documents that arrive serialised. Decoding every document into a dict only to
read them costs more than the rest of the filter, so ``FieldReader`` decodes
each document into a tiny struct holding just the wanted paths: msgspec skips
the other members without building them (about 3x cheaper than a full
decode), and the batch keeps its serialised form for the outputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec
import orjson

from podlog.batch import Batch
from podlog.parsers.regexp import slashed_regex

__all__ = ["FieldReader", "Key", "as_text", "compile_pattern", "delete_path", "get_path", "parse_key", "set_path"]

Key = tuple[str, ...]

_BRACKET = re.compile(r"""\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(-?\d+))\s*\]""")


def parse_key(text: str) -> Key:
    """A field path from Fluentd's record_accessor (``$.a.b``, ``$['a.b']['c']``) or podlog's ``a.b``.

    Raises ValueError. A key that holds a dot itself is reached with the bracket form.
    """
    text = text.strip()
    if not text or text == "$":
        raise ValueError("expected a field name like message or $.kubernetes.namespace_name")
    if not text.startswith("$"):
        return tuple(text.split("."))
    parts: list[str] = []
    i, n = 1, len(text)
    while i < n:
        if text[i] == ".":
            end = i + 1
            while end < n and text[end] not in ".[":
                end += 1
            if end == i + 1:
                raise ValueError(f"empty name in {text!r}")
            parts.append(text[i + 1 : end])
            i = end
            continue
        m = _BRACKET.match(text, i)
        if m is None:
            raise ValueError(f"cannot read {text!r} at {text[i:]!r}; use $.a.b or $['a']['b']")
        quoted = m.group(1) if m.group(1) is not None else m.group(2)
        parts.append(quoted.replace("\\", "") if quoted is not None else m.group(3))
        i = m.end()
    if not parts:
        raise ValueError(f"no field named in {text!r}")
    return tuple(parts)


def get_path(record: Any, key: Key) -> Any:
    """The value at ``key``, or None when any step is missing (or not an object)."""
    value = record
    for part in key:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and _is_index(part):
            idx = int(part)
            value = value[idx] if -len(value) <= idx < len(value) else None
        else:
            return None
    return value


def set_path(record: dict[str, Any], key: Key, value: Any) -> None:
    """Set ``key``, creating (or replacing non-object) intermediate objects."""
    target = record
    for part in key[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[key[-1]] = value


def delete_path(record: dict[str, Any], key: Key) -> Any:
    """Remove ``key`` if present; returns the removed value (None if absent)."""
    parent = get_path(record, key[:-1]) if len(key) > 1 else record
    return parent.pop(key[-1], None) if isinstance(parent, dict) else None


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdigit()


def as_text(value: Any) -> str:
    """A value as text for matching, like Fluentd's ``to_s``: missing is '', objects are JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def compile_pattern(text: str) -> re.Pattern[str]:
    """A Fluentd pattern: ``/regex/flags`` or a bare regex; Ruby's ``(?<name>...)`` works. Raises ValueError."""
    try:
        return slashed_regex(text)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {text!r}: {exc}") from None


# --- reading a few fields of every record


class _Trie(dict[str, "_Trie"]):
    """Path tree; ``leaf`` marks a node whose whole value is wanted."""

    leaf = False


class FieldReader:
    """Reads a fixed set of field paths from every record of a batch, without changing the batch.

    Records already decoded are read directly; serialised documents are decoded
    into a generated struct of just those paths. A document where a path runs
    into a non-object (``"kubernetes": "x"``) falls back to a full decode.
    """

    def __init__(self, keys: Sequence[Key]) -> None:
        self.keys = list(dict.fromkeys(keys))
        trie = _Trie()
        for key in self.keys:
            node = trie
            for part in key:
                node = node.setdefault(part, _Trie())
            node.leaf = True
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(_struct(trie, "Fields"))
        self._walk = [_attr_path(trie, key) for key in self.keys]

    def read(self, batch: Batch) -> list[list[Any]]:
        """For each key (in the order given), its values across the batch; None where missing."""
        if not batch.has_docs():
            records = batch.records
            return [[get_path(r, key) for r in records] for key in self.keys]
        decode = self._decoder.decode
        rows: list[Any] = []
        append = rows.append
        for doc in batch.docs:
            try:
                append(decode(doc))
            except (msgspec.ValidationError, msgspec.DecodeError):
                append(_Fallback(doc))
        return [[_follow(row, walk, key) for row in rows] for walk, key in zip(self._walk, self.keys, strict=True)]


class _Fallback:
    """A document the struct could not hold: read with a full decode."""

    __slots__ = ("record",)

    def __init__(self, doc: bytes) -> None:
        try:
            self.record = orjson.loads(doc)
        except orjson.JSONDecodeError:
            self.record = {}


def _struct(node: _Trie, name: str) -> type:
    fields = []
    for i, (part, child) in enumerate(node.items()):
        kind: Any = Any if child.leaf or not child else _struct(child, f"{name}_{i}") | None
        fields.append((f"f{i}", kind, msgspec.field(default=None, name=part)))
    return msgspec.defstruct(name, fields)


def _attr_path(trie: _Trie, key: Key) -> list[str]:
    """Struct attribute names along ``key``; stops where a leaf holds the rest as a plain value."""
    attrs, node = [], trie
    for part in key:
        attrs.append(f"f{list(node).index(part)}")
        node = node[part]
        if node.leaf:
            break
    return attrs


def _follow(row: Any, attrs: list[str], key: Key) -> Any:
    if type(row) is _Fallback:
        return get_path(row.record, key)
    value = row
    for attr in attrs:
        value = getattr(value, attr)
        if value is None:
            return None
    rest = key[len(attrs):]
    return get_path(value, rest) if rest else value
