"""Metric rules: which records count, into which metric, with which labels.

A rule selects records by tag pattern, field conditions (``where``) and a
regex or grok on one field (``message`` by default); its capture groups can
be labels or the value. Labels come only from the fields a rule names (an
allow-list), never from the message itself: its values are unbounded.

Work is per batch: the fields every rule needs are read once
(``FieldReader``, no full decode of serialised records), and a plain
counter is one ``collections.Counter`` over the zipped label columns, so
the per-record cost stays in C. Label values are turned into text once per
distinct label set, not per record.
"""

from __future__ import annotations

import itertools
import operator
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from podlog.batch import Batch
from podlog.config.options import parse_duration
from podlog.fields import Key, as_text, compile_pattern, parse_key
from podlog.metrics._columns import BatchReader, Columns
from podlog.metrics.series import COUNTER, GAUGE, HISTOGRAM, KINDS, SeriesTable, TableSpec
from podlog.router import TagPattern

__all__ = ["DEFAULT_BUCKETS", "Rule", "RuleError", "RuleSet", "build_rules"]

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # Prometheus client defaults
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_MESSAGE_KEYS = {("message",), ("log",), ("msg",)}  # the raw line: never a label
_RULE_KEYS = ("name", "type", "help", "labels", "const_labels", "value", "buckets", "tag", "where", "regex", "grok",
              "key", "drop", "max_series", "expire")
# A label's value comes from a record field, a capture group of the rule's regex, or is the same for the batch.
_FIELD, _GROUP, _TAG, _CONST = "field", "group", "tag", "const"
_TAG_REFS, _HOST_REFS = ("$tag", "${tag}"), ("$hostname", "${hostname}")  # ${..} is Fluentd's; YAML: $tag
_MAX_TAGS = 1024  # tags cached per rule set (a tag's rules are found once)
_PLAIN = frozenset((str, int, float))  # label values whose text is str(value)

Source = tuple[str, Any]


class RuleError(ValueError):
    """A bad rule: ``index`` in the list, ``key`` the rule's key at fault ('' for the rule as a whole)."""

    def __init__(self, index: int, detail: str) -> None:
        self.index = index
        self.key = detail[1:].split(":", 1)[0].split(".")[0].split("[")[0] if detail.startswith(".") else ""
        super().__init__(f"rules[{index}]{'' if detail.startswith('.') else ': '}{detail}")


class Rule:
    """One metric rule, its table, and how to read its labels and value from a batch's columns."""

    def __init__(self, raw: dict[str, Any], table: SeriesTable, keys: list[Key]) -> None:
        self.table = table
        self.kind = table.spec.kind
        self.drop = _bool(raw.get("drop", False))
        self.tag = _tag_pattern(raw.get("tag"))
        self.where = [(_key_index(keys, key), pattern) for key, pattern in _where(raw.get("where"))]
        self.regex, group_fields = _regex(raw)
        self.regex_col = _key_index(keys, parse_key(str(raw.get("key", "message")))) if self.regex else -1
        self.labels: list[Source] = []
        for _, source in _labels(raw):
            self.labels.append(self._source(source, group_fields, keys))
        self.consts = tuple(str(v) for v in (raw.get("const_labels") or {}).values())
        fields = [arg for kind, arg in self.labels if kind == _FIELD]
        self.label_keys = tuple(fields) if len(fields) == len(self.labels) else None  # all from fields
        self.value: Source | None = None
        if raw.get("value") is not None:
            self.value = self._source(str(raw["value"]), group_fields, keys)

    def _source(self, text: str, groups: dict[str, str], keys: list[Key]) -> Source:
        if text in _TAG_REFS:
            return (_TAG, None)
        if text in _HOST_REFS:
            return (_CONST, socket.gethostname())
        if text in groups:
            return (_GROUP, groups[text])
        return (_FIELD, _key_index(keys, parse_key(text)))

    def evaluate(self, columns: Columns, n: int, tag: str) -> list[bool] | None:
        """Update the table from one batch; returns which records the rule selected (None: all of them)."""
        sel: list[bool] | None = None
        for col, pattern in self.where:
            search = pattern.search
            hits = [search(v if type(v) is str else as_text(v)) is not None for v in columns[col]]
            sel = hits if sel is None else list(map(operator.and_, sel, hits))
        matches: list[re.Match[str] | None] = []
        if self.regex is not None:
            search = self.regex.search
            matches = [search(v if type(v) is str else as_text(v)) for v in columns[self.regex_col]]
            hit = [m is not None for m in matches]
            sel = hit if sel is None else list(map(operator.and_, sel, hit))
        if sel is not None and not any(sel):
            return sel
        if self.kind == COUNTER and self.value is None:
            self.table.add(self._counts(columns, matches, sel, n, tag))
        else:
            label_cols = [self._column(s, columns, matches, n, tag) for s in self.labels]
            values = self._column(self.value, columns, matches, n, tag) if self.value else []
            self._by_value(label_cols, values, sel, n)
        return sel

    @staticmethod
    def _column(source: Source, columns: Columns, matches: list[re.Match[str] | None], n: int,
                tag: str) -> list[Any]:
        kind, arg = source
        if kind == _FIELD:
            return columns[arg]
        if kind == _GROUP:
            return [m.group(arg) if m is not None else None for m in matches]
        return [tag if kind == _TAG else arg] * n

    def _counts(self, columns: Columns, matches: list[re.Match[str] | None], sel: list[bool] | None, n: int,
                tag: str) -> dict[tuple[str, ...], float]:
        """Records per label set: one C-level Counter over the label tuples."""
        if not self.labels:
            return {self.consts: float(n if sel is None else sum(sel))}
        def label_cols() -> list[list[Any]]:
            return [self._column(s, columns, matches, n, tag) for s in self.labels]

        rows: Iterable[tuple[Any, ...]] = (columns.tuples(self.label_keys) if self.label_keys is not None
                                           else zip(*label_cols(), strict=True))
        try:
            counts = Counter(rows if sel is None else itertools.compress(rows, sel))
        except TypeError:  # an object or list as a label value: counted by its JSON text
            rows = zip(*[[as_text(v) for v in c] for c in label_cols()], strict=True)
            counts = Counter(rows if sel is None else itertools.compress(rows, sel))
        out: dict[tuple[str, ...], float] = {}
        consts = self.consts
        plain = _PLAIN.issuperset
        for key, c in counts.items():
            # str() is the label text of str, int and float (C-level); other types take as_text
            text = (*map(str if plain(map(type, key)) else _label_text, key), *consts)
            out[text] = out.get(text, 0.0) + c
        return out

    def _by_value(self, label_cols: list[list[Any]], values: list[Any], sel: list[bool] | None,
                  n: int) -> None:
        """Counters by a field's value, gauges and histograms: a Python loop over the selected records."""
        rows: Iterator[tuple[tuple[Any, ...], Any]]
        rows = zip(zip(*label_cols, strict=True) if label_cols else itertools.repeat((), n), values, strict=False)
        if sel is not None:
            rows = itertools.compress(rows, sel)
        grouped: dict[tuple[str, ...], list[float]] = {}
        skipped = 0
        for key, raw in rows:
            value = _number(raw)
            if value is None or (self.kind == COUNTER and value < 0):
                skipped += 1
                continue
            text = (*map(_label_text, key), *self.consts)
            bucket = grouped.get(text)
            if bucket is None:
                grouped[text] = [value]
            else:
                bucket.append(value)
        if skipped:
            with self.table.lock:
                self.table.invalid += skipped
        if self.kind == COUNTER:
            self.table.add({k: sum(v) for k, v in grouped.items()})
        elif self.kind == GAUGE:
            self.table.set({k: v[-1] for k, v in grouped.items()})  # the latest record's value
        else:
            self.table.observe(grouped)


class RuleSet:
    """The rules of one metrics filter: one field read per batch, then each rule whose tag matches."""

    def __init__(self, rules: list[Rule], keys: list[Key]) -> None:
        self.rules = rules
        self.reader = BatchReader(keys) if keys else None
        self.tables = list({id(r.table): r.table for r in rules}.values())
        self._by_tag: dict[str, list[Rule]] = {}

    def apply(self, batch: Batch) -> list[bool] | None:
        """Count the batch; returns a keep mask when a ``drop`` rule selected records, else None."""
        n = len(batch)
        if not n:
            return None
        rules = self._rules_for(batch.tag)
        if not rules:
            return None
        columns = self.reader.read(batch) if self.reader is not None else Columns(lists=[])
        drop: list[bool] | None = None
        for rule in rules:
            sel = rule.evaluate(columns, n, batch.tag)
            if rule.drop:
                hit = sel if sel is not None else [True] * n
                drop = hit if drop is None else list(map(operator.or_, drop, hit))
        return None if drop is None or not any(drop) else [not d for d in drop]

    def _rules_for(self, tag: str) -> list[Rule]:
        rules = self._by_tag.get(tag)
        if rules is None:
            if len(self._by_tag) >= _MAX_TAGS:
                self._by_tag.clear()
            rules = self._by_tag[tag] = [r for r in self.rules if r.tag is None or r.tag.match(tag)]
        return rules


def build_rules(raws: list[Any], max_series: int, expire: dict[str, float],
                clock: Callable[[], float] | None = None) -> RuleSet:
    """Rules from config mappings; raises ValueError naming ``rules[i].key``.

    ``expire`` holds the default idle expiry by metric type. Rules with the same
    name share one metric if they agree on its type, labels and buckets.
    """
    if not isinstance(raws, list) or not raws:
        raise ValueError("expected a list of rules, each a mapping with name and type")
    keys: list[Key] = []
    tables: dict[str, SeriesTable] = {}
    rules = []
    for i, raw in enumerate(raws):
        try:
            rules.append(_rule(raw, keys, tables, max_series, expire, clock))
        except ValueError as exc:
            raise RuleError(i, str(exc)) from None
    return RuleSet(rules, keys)


def _rule(raw: Any, keys: list[Key], tables: dict[str, SeriesTable], max_series: int, expire: dict[str, float],
          clock: Callable[[], float] | None) -> Rule:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a mapping with name and type, got {raw!r}")
    unknown = sorted(set(raw) - set(_RULE_KEYS))
    if unknown:
        raise ValueError(f".{unknown[0]}: unknown key; valid: {', '.join(_RULE_KEYS)}")
    name, kind = str(raw.get("name", "")), str(raw.get("type", ""))
    if not _METRIC_NAME.match(name):
        raise ValueError(f".name: expected a Prometheus metric name like http_requests_total, got {name!r}")
    if name.startswith("podlog_"):
        raise ValueError(".name: the podlog_ prefix is the agent's own metrics")
    if kind not in KINDS:
        raise ValueError(f".type: expected one of {', '.join(KINDS)}, got {kind!r}")
    if kind != COUNTER and raw.get("value") is None:
        raise ValueError(f".value: a {kind} needs the field (or capture group) holding the value")
    buckets = _buckets(raw.get("buckets"), kind)
    labelnames = tuple(n for n, _ in _labels(raw)) + tuple(_const_labels(raw))
    _check_labelnames(labelnames, kind)
    spec = TableSpec(name, kind, labelnames, buckets)
    spec = TableSpec(spec.exposed, kind, labelnames, buckets)  # x and x_total: one counter
    table = tables.get(spec.exposed)
    if table is None:
        # No labels from records: one series, shown from the start (a counter at 0) and never expired.
        single = not _labels(raw)
        table = tables[spec.exposed] = SeriesTable(
            spec, str(raw.get("help") or f"{kind} from logs"), _int(raw.get("max_series", max_series), "max_series"),
            0.0 if single else _duration(raw.get("expire", expire[kind])), *(() if clock is None else (clock,)))
        consts = tuple(_const_labels(raw).values())
        if single and kind == COUNTER:
            table.add({consts: 0.0})
        elif single and kind == HISTOGRAM:
            table.observe({consts: []})
    elif table.spec != spec:
        raise ValueError(f".name: {spec.exposed} is defined twice with a different type, labels or buckets")
    return Rule(raw, table, keys)


def _labels(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(label name, source) pairs: a list of fields (named after them) or a mapping label -> source."""
    value = raw.get("labels") or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        pairs = [(_label_name(str(v)), str(v)) for v in value]
    elif isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        raise ValueError(f".labels: expected a list of fields or a mapping of label to field, got {value!r}")
    for label, source in pairs:
        if source not in _TAG_REFS + _HOST_REFS:
            try:
                key = parse_key(source)
            except ValueError as exc:
                raise ValueError(f".labels.{label}: {exc}") from None
            if key in _MESSAGE_KEYS:
                raise ValueError(f".labels.{label}: the message is never a label (unbounded values); "
                                 "capture the part you need with regex or grok and label by that group")
    return pairs


def _label_name(source: str) -> str:
    """The label a field gives when labels is a list: ``kubernetes.namespace_name`` -> kubernetes_namespace_name."""
    if source in _TAG_REFS + _HOST_REFS:
        return source.strip("${}")
    return re.sub(r"[^a-zA-Z0-9_]", "_", ".".join(parse_key(source)))


def _const_labels(raw: dict[str, Any]) -> dict[str, str]:
    value = raw.get("const_labels") or {}
    if not isinstance(value, dict):
        raise ValueError(f".const_labels: expected a mapping of label to value, got {value!r}")
    return {str(k): str(v) for k, v in value.items()}


def _check_labelnames(names: tuple[str, ...], kind: str) -> None:
    for label in names:
        if not _LABEL_NAME.match(label) or label.startswith("__"):
            raise ValueError(f".labels: {label!r} is not a Prometheus label name")
        if kind == HISTOGRAM and label == "le":
            raise ValueError(".labels: le is reserved for histogram buckets")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f".labels: label {dupes[0]} given twice")


def _buckets(value: Any, kind: str) -> tuple[float, ...]:
    if kind != HISTOGRAM:
        if value is not None:
            raise ValueError(".buckets: only a histogram has buckets")
        return ()
    if value is None:
        return DEFAULT_BUCKETS
    items = value.split(",") if isinstance(value, str) else value
    try:
        bounds = tuple(float(b) for b in items)
    except (TypeError, ValueError):
        raise ValueError(f".buckets: expected a list of numbers, got {value!r}") from None
    if not bounds or list(bounds) != sorted(set(bounds)):
        raise ValueError(f".buckets: expected increasing numbers, got {value!r}")
    return tuple(b for b in bounds if b != float("inf"))


def _where(value: Any) -> list[tuple[Key, re.Pattern[str]]]:
    """Field conditions, all of which must match: {key, pattern} mappings as in grep."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"key", "pattern"}:
            raise ValueError(f".where[{i}]: expected key and pattern, got {item!r}")
        out.append((parse_key(str(item["key"])), compile_pattern(str(item["pattern"]))))
    return out


def _regex(raw: dict[str, Any]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """The rule's regex (or grok, compiled to one) and its capture groups: field name -> group name."""
    if raw.get("regex") is not None and raw.get("grok") is not None:
        raise ValueError(".regex: give regex or grok, not both")
    if raw.get("regex") is not None:
        pattern = compile_pattern(str(raw["regex"]))
        return pattern, {g: g for g in pattern.groupindex}
    if raw.get("grok") is not None:
        from podlog.parsers.grok import compile_grok, pattern_library

        pattern, captures = compile_grok(str(raw["grok"]), pattern_library())
        return pattern, {field: group for group, field, _ in captures}
    if raw.get("key") is not None:
        raise ValueError(".key: the field regex or grok reads; give one of them")
    return None, {}


def _tag_pattern(value: Any) -> TagPattern | None:
    return None if value is None else TagPattern(str(value))


def _key_index(keys: list[Key], key: Key) -> int:
    if key not in keys:
        keys.append(key)
    return keys.index(key)


def _label_text(value: Any) -> str:
    return value if type(value) is str else as_text(value)


def _number(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        raise ValueError(f".drop: expected true or false, got {value!r}")
    return text in ("true", "yes", "on", "1")


def _int(value: Any, key: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f".{key}: expected an integer, got {value!r}") from None
    if n < 0:
        raise ValueError(f".{key}: expected 0 (no limit) or more, got {n}")
    return n


def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f".expire: {exc}") from None
