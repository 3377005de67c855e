"""The ``grep`` filter: keep or drop records by regular expressions on fields, as Fluentd's filter_grep.

Fluentd's rules carry over: several ``<regexp>`` must all match (AND), any
``<exclude>`` that matches drops the record (OR); ``<and>``/``<or>`` sections
group either kind the other way round. A missing field reads as '' (Ruby's
``nil.to_s``), so ``/^$/`` matches it.

Only the fields named are read (``FieldReader``): a batch that arrived
serialised stays serialised and the records dropped go through ``Batch.keep``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from podlog.batch import Batch
from podlog.config.options import Option, Options
from podlog.fields import FieldReader, Key, as_text, compile_pattern, parse_key
from podlog.filters._base import Filter, Filtered

__all__ = ["GrepFilter"]

_RULE_DOC = "a list of {key, pattern}; key is a field (message), a dotted path or $.a.b; pattern is /regex/flags."
# How a condition combines its checks, and whether a hit keeps or drops the record.
_KEEP_ALL, _KEEP_ANY, _DROP_ALL, _DROP_ANY = "keep_all", "keep_any", "drop_all", "drop_any"


class GrepFilter(Filter):
    """Keeps records whose fields match <regexp> rules and drops those matching <exclude> rules."""

    name: ClassVar[str] = "grep"

    class Options(Filter.Options):
        regexp = Option("any", [], doc=f"Keep a record only if every rule matches: {_RULE_DOC}")
        exclude = Option("any", [], doc=f"Drop a record if any rule matches: {_RULE_DOC}")
        and_ = Option("any", [], name="and", doc="Groups (<and> sections) of regexp/exclude rules: keep a record "
                      "if all its regexp rules match; drop it if all its exclude rules match.")
        or_ = Option("any", [], name="or", doc="Groups (<or> sections) of regexp/exclude rules: keep a record "
                     "if any of its regexp rules matches; drop it if any of its exclude rules matches.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.conditions: list[tuple[str, list[tuple[int, re.Pattern[str]]]]] = []
        keys: list[Key] = []
        self._add(keys, _KEEP_ALL, "regexp", options.regexp)
        self._add(keys, _DROP_ANY, "exclude", options.exclude)
        for section, (keep, drop) in (("and", (_KEEP_ALL, _DROP_ALL)), ("or", (_KEEP_ANY, _DROP_ANY))):
            for i, group in enumerate(_items(getattr(options, section), options, section)):
                unknown = set(group) - {"regexp", "exclude"}
                if unknown or not group:
                    raise options.error(section, f"[{i}]: expected <regexp> and/or <exclude> sections inside, "
                                                 f"got {', '.join(sorted(unknown)) or 'nothing'}")
                self._add(keys, keep, f"{section}[{i}].regexp", group.get("regexp", []))
                self._add(keys, drop, f"{section}[{i}].exclude", group.get("exclude", []))
        self.reader = FieldReader(keys)

    def _add(self, keys: list[Key], mode: str, where: str, rules: Any) -> None:
        checks = []
        for i, rule in enumerate(_items(rules, self.options, where)):
            if set(rule) != {"key", "pattern"}:
                raise self.options.error(where.split(".")[0], f"{where}[{i}]: expected key and pattern, got "
                                                              f"{', '.join(sorted(rule)) or 'nothing'}")
            try:
                key, pattern = parse_key(str(rule["key"])), compile_pattern(str(rule["pattern"]))
            except ValueError as exc:
                raise self.options.error(where.split(".")[0], f"{where}[{i}]: {exc}") from None
            if key not in keys:
                keys.append(key)
            checks.append((keys.index(key), pattern))
        if checks:
            self.conditions.append((mode, checks))

    def filter(self, batch: Batch) -> Filtered:
        given = len(batch)
        if not self.conditions or not given:
            return Filtered(batch, given)
        columns = self.reader.read(batch)
        mask: list[bool] | None = None
        for mode, checks in self.conditions:
            hits = [_hits(columns[col], pattern) for col, pattern in checks]
            combined = (list(map(all, zip(*hits, strict=True))) if mode in (_KEEP_ALL, _DROP_ALL)
                        else list(map(any, zip(*hits, strict=True))))
            keep = combined if mode in (_KEEP_ALL, _KEEP_ANY) else [not h for h in combined]
            mask = keep if mask is None else [a and b for a, b in zip(mask, keep, strict=True)]
        if mask is not None and not all(mask):
            batch.keep(mask)
        return Filtered(batch, given)


def _hits(values: list[Any], pattern: re.Pattern[str]) -> list[bool]:
    search = pattern.search
    return [search(v if type(v) is str else as_text(v)) is not None for v in values]


def _items(value: Any, options: Options, key: str) -> list[dict[str, Any]]:
    """One mapping or a list of mappings (a YAML shorthand and Fluentd's repeated sections)."""
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise options.error(key.split(".")[0], f"{key}[{i}]: expected a mapping, got {item!r}")
    return items
