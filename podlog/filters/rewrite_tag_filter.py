"""The ``rewrite_tag_filter`` filter: give records a new tag from a field and route them again.

Fluentd's rewrite_tag_filter is a ``<match>`` output: records that a
``<rule>`` rewrites are emitted again under the new tag, the others are
dropped. podlog runs it both ways: as a ``<match>``/``outputs:`` entry it
behaves as in Fluentd (the engine drops, and counts, what no rule rewrote),
and as a ``<filter>``/``filters:`` entry the records no rule rewrote go on
unchanged.

Rules are tried in order; the first that applies gives the tag. A rule
applies when its pattern matches the field (``invert``: when it does not);
a matching ``invert`` rule ends the search with no rewrite, and an empty
field never matches a plain rule (both as in Fluentd). The tag may use
``$1``..``$9`` (groups of the pattern), ``${tag}``/``__TAG__``,
``${tag_parts[N]}``/``__TAG_PARTS[N]__`` and ``${hostname}``/``__HOSTNAME__``.

Acks: each re-emitted batch gets its own ack that holds the original's, so
the source's checkpoint moves past these records only once the new routes
acknowledged them. Loops: a record whose new tag equals its tag is not
rewritten (Fluentd does the same), and records that come back to the same
rewrite_tag_filter while it is re-emitting them (their new tag matches it
again) are not rewritten a second time: a filter passes them on, a
``<match>`` drops them (counted), with a warning naming the tag.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from podlog.batch import Batch
from podlog.config.options import Option
from podlog.fields import FieldReader, as_text, compile_pattern, parse_key
from podlog.filters._base import Filter, Filtered

__all__ = ["RewriteTagFilter"]

log = logging.getLogger("podlog.filters.rewrite_tag_filter")

_TAG_PLACEHOLDER = re.compile(r"\$\{tag\}|__TAG__|\$\{tag_parts\[(-?\d+)\]\}|__TAG_PARTS\[(-?\d+)\]__|"
                              r"\$\{hostname\}|__HOSTNAME__")
_BACKREF = re.compile(r"\$(\d)")


class _Rule:
    __slots__ = ("column", "invert", "pattern", "tag", "uses_groups")

    def __init__(self, column: int, pattern: re.Pattern[str], tag: str, invert: bool) -> None:
        self.column, self.pattern, self.tag, self.invert = column, pattern, tag, invert
        self.uses_groups = _BACKREF.search(tag) is not None


class RewriteTagFilter(Filter):
    """Re-tags records from <rule> key/pattern/tag and routes them again (Fluentd's rewrite_tag_filter)."""

    name: ClassVar[str] = "rewrite_tag_filter"

    class Options(Filter.Options):
        rule = Option("any", aliases=("rules",), doc="Rules tried in order: a list of {key, pattern, tag, "
                      "invert}; tag may use $1, ${tag}, __TAG__, ${tag_parts[N]}, __TAG_PARTS[N]__, ${hostname}.")
        capitalize_regex_backreference = Option("bool", False, doc="Capitalize $1..$9 in the new tag.")
        remove_tag_prefix = Option("str", "", doc="Remove this prefix (and its dot) from the tag the "
                                   "placeholders see.")
        remove_tag_regexp = Option("str", "", doc="Remove what this regex matches from the tag the placeholders "
                                   "see.")
        emit_mode = Option("str", "batch", choices=("batch", "record"), doc="Fluentd's emit mode.",
                           ignored="podlog always re-emits batches.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.emit: Callable[[Batch], None] | None = context.get("emit")
        self.label_name = str(context.get("name", self.name))
        self.rules: list[_Rule] = []
        keys = []
        rules = options.rule if isinstance(options.rule, list) else [options.rule]
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict) or not {"key", "pattern", "tag"} <= set(rule) or \
                    not set(rule) <= {"key", "pattern", "tag", "invert"}:
                raise options.error("rule", f"[{i}]: expected key, pattern, tag and optionally invert")
            try:
                key = parse_key(str(rule["key"]))
                pattern = compile_pattern(str(rule["pattern"]))
                invert = Option("bool").convert(rule.get("invert", False))
            except ValueError as exc:
                raise options.error("rule", f"[{i}]: {exc}") from None
            if key not in keys:
                keys.append(key)
            self.rules.append(_Rule(keys.index(key), pattern, str(rule["tag"]), invert))
        if not self.rules:
            raise options.error("rule", "at least one <rule> is needed")
        try:
            self.strip = compile_pattern(options.remove_tag_regexp) if options.remove_tag_regexp else None
        except ValueError as exc:
            raise options.error("remove_tag_regexp", str(exc)) from None
        self.reader = FieldReader(keys)
        self.hostname = socket.gethostname()
        self.local = threading.local()  # per thread: the re-entry guard
        self.warned: set[str] = set()

    def filter(self, batch: Batch) -> Filtered:
        given = len(batch)
        if not given:
            return Filtered(batch, given)
        if getattr(self.local, "active", False):
            self._warn_loop(batch.tag)
            return Filtered(batch, given)
        new_tags = self._new_tags(batch)
        by_tag: dict[str, list[int]] = {}
        for i, tag in enumerate(new_tags):
            if tag is not None and tag != batch.tag:
                by_tag.setdefault(tag, []).append(i)
        if not by_tag:
            return Filtered(batch, given)
        if self.emit is None:
            raise RuntimeError("rewrite_tag_filter needs the engine's emit")
        moved = [False] * len(batch)
        children = []
        for tag, positions in by_tag.items():
            for i in positions:
                moved[i] = True
            children.append(_subset(batch, tag, positions))
        batch.keep([not m for m in moved])  # before emitting: the records are now the children's
        self.local.active = True
        try:
            for child in children:
                self.emit(child)
        finally:
            self.local.active = False
        return Filtered(batch, given, moved=sum(map(len, children)))

    def _new_tags(self, batch: Batch) -> list[str | None]:
        columns = self.reader.read(batch)
        templates = [self._tag_template(rule.tag, batch.tag) for rule in self.rules]
        out: list[str | None] = []
        for row in range(len(batch)):
            out.append(self._rewrite(columns, row, templates))
        return out

    def _rewrite(self, columns: list[list[Any]], row: int, templates: list[str]) -> str | None:
        for rule, template in zip(self.rules, templates, strict=True):
            raw = columns[rule.column][row]
            value = raw if type(raw) is str else as_text(raw)
            if not value and not rule.invert:
                continue
            m = rule.pattern.search(value)
            if m is not None:
                if rule.invert:
                    return None  # a matching invert rule ends the search (Fluentd)
                return self._groups(template, m) if rule.uses_groups else template
            if rule.invert:
                return template
        return None

    def _groups(self, template: str, m: re.Match[str]) -> str:
        capitalize = self.options.capitalize_regex_backreference

        def group(ref: re.Match[str]) -> str:
            n = int(ref.group(1))
            text = (m.group(n) or "") if 0 < n <= (m.re.groups or 0) else ""
            return text.capitalize() if capitalize else text

        return _BACKREF.sub(group, template)

    def _tag_template(self, template: str, tag: str) -> str:
        """The rule's tag with this batch's tag placeholders filled ($N stay for each record)."""
        opts = self.options
        if opts.remove_tag_prefix and (tag == opts.remove_tag_prefix or tag.startswith(opts.remove_tag_prefix + ".")):
            tag = tag[len(opts.remove_tag_prefix) + 1 :]
        if self.strip is not None:
            tag = self.strip.sub("", tag)
        parts = tag.split(".")

        def fill(m: re.Match[str]) -> str:
            index = m.group(1) or m.group(2)
            if index is not None:
                n = int(index)
                return parts[n] if -len(parts) <= n < len(parts) else ""
            return self.hostname if "HOST" in m.group(0).upper() else tag

        return _TAG_PLACEHOLDER.sub(fill, template)

    def _warn_loop(self, tag: str) -> None:
        if tag not in self.warned:
            self.warned.add(tag)
            log.warning("rewrite_tag_filter %s: records it re-emitted as %r came back to it; they are not rewritten "
                        "again (a loop): check that the new tags do not match its own pattern", self.label_name, tag)


def _subset(batch: Batch, tag: str, positions: list[int]) -> Batch:
    offsets = [batch.offsets[i] for i in positions] if batch.offsets is not None else None
    ack = batch.ack.child()  # the source commits only after the new routes acked
    if batch.has_docs():
        docs = batch.docs
        return Batch(tag, docs=[docs[i] for i in positions], ack=ack, origin=batch.origin, offsets=offsets)
    records = batch.records
    return Batch(tag, records=[records[i] for i in positions], ack=ack, origin=batch.origin, offsets=offsets)
