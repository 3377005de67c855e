"""``podlog check --input``: what a config would do with sample lines, without running it.

Users debug a regex or a routing rule by feeding real lines through their
config and reading where each one ends up. The answer is only worth having if
it comes from the agent's own code, so nothing here re-implements it: lines go
through the tail input's envelope codec and parser (``TailInput.codec_for``),
then through the engine's filters and routing (``Engine.emit_tagged``), built
with a ``DryRun`` that swaps every output for a stand-in that only records.
No output, buffer or input is started: nothing connects, no pos_file or
buffer file is written.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from podlog.batch import Batch
from podlog.codecs.container import LineCodec, now_rfc3339
from podlog.config.errors import ConfigError
from podlog.config.loader import load_config
from podlog.config.model import Config, PluginSpec
from podlog.config.notices import collect
from podlog.engine import Engine
from podlog.inputs._push import PushInput
from podlog.inputs.tail.input import TailInput
from podlog.inputs.tail.scan import expand_time
from podlog.outputs._base import Output

__all__ = ["Delivery", "Drop", "LineReport", "Recorder", "check_lines", "dry_run"]


@dataclass
class Delivery:
    """One record handed to one output."""

    output: str
    type: str
    match: str
    tag: str
    record: dict[str, Any]


@dataclass
class Drop:
    """Records routing gave up on: ``by`` a filter, or (None) because no ``<match>`` took ``tag``."""

    tag: str
    count: int
    by: str | None
    records: list[dict[str, Any]] = field(default_factory=list)  # unmatched: what no output took


@dataclass
class LineReport:
    """Everything that happened to one sample line (``number`` None: the end-of-input flush)."""

    number: int | None
    text: str
    tag: str
    records: list[dict[str, Any]] = field(default_factory=list)  # as the source produced them
    deliveries: list[Delivery] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    held: bool = False  # kept for the lines that end its record (partial line, open multiline event)

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.number, "text": self.text, "tag": self.tag, "records": self.records, "held": self.held,
            "outputs": [vars(d) for d in self.deliveries],
            "dropped": [{"by": d.by, "tag": d.tag, "count": d.count} for d in self.drops if d.by is not None],
            "unmatched": [{"tag": d.tag, "count": d.count, "records": d.records} for d in self.drops if d.by is None],
        }


class _StandIn:
    """An output as the dry run sees it: routing hands it batches, it tells the recorder."""

    def __init__(self, name: str, type_: str, match: str, recorder: Recorder) -> None:
        self.name = name
        self.type = type_
        self.match = match
        self._recorder = recorder

    def submit(self, batch: Batch) -> None:
        self._recorder.delivered(self, batch)


class Recorder:
    """The ``DryRun`` an engine is built with: notes deliveries and drops against the current line."""

    def __init__(self, config: Config) -> None:
        self._matches = _store_patterns(config)
        self.stand_ins: list[_StandIn] = []
        self.current: LineReport | None = None

    def target(self, spec: PluginSpec, name: str, output: Output) -> _StandIn:
        stand_in = _StandIn(name, spec.type, self._matches.get(id(spec), spec.match or "**"), self)
        self.stand_ins.append(stand_in)
        return stand_in

    def dropped(self, batch: Batch, n: int, by: str | None) -> None:
        if self.current is not None:
            records = _snapshot(batch) if by is None else []
            self.current.drops.append(Drop(batch.tag, n, by, records))

    def delivered(self, stand_in: _StandIn, batch: Batch) -> None:
        if self.current is None:
            return
        for record in _snapshot(batch):
            self.current.deliveries.append(Delivery(stand_in.name, stand_in.type, stand_in.match, batch.tag, record))


def _snapshot(batch: Batch) -> list[dict[str, Any]]:
    """The batch's records decoded afresh: a copy no later stage can change."""
    return [orjson.loads(doc) for doc in batch.docs]


def _store_patterns(config: Config) -> dict[int, str]:
    """Each output spec (copy stores included) -> the pattern of the ``<match>`` that holds it."""
    out: dict[int, str] = {}
    for section in (config.main, *config.labels.values()):
        for spec in section.outputs:
            for store in spec.stores or [spec]:
                out[id(store)] = spec.match or "**"
    return out


# --- where sample lines enter ---------------------------------------------------------------


@dataclass
class Feed:
    """The source the sample stands for: its tag, label, and (tail) the codec a real file would get."""

    tag: str
    label: str | None
    about: str
    tail: TailInput | None = None
    path: str = ""
    push: Any = None  # a push input (forward, http, syslog): it turns each line into what a client sends


def _tag_matches(source_tag: str, tag: str) -> bool:
    """``tag`` could come from a source tagged ``source_tag`` (``*`` stands for a file path)."""
    if "*" not in source_tag:
        return source_tag == tag
    return re.fullmatch(".+".join(map(re.escape, source_tag.split("*"))), tag) is not None


def _follows(plugin: TailInput, path: str) -> bool:
    """Whether the tail source would follow ``path`` (its globs, dated for now, minus its excludes)."""
    o = plugin.options
    if not any(fnmatch.fnmatchcase(path, expand_time(p)) for p in o.path):
        return False
    return not any(fnmatch.fnmatchcase(path, ex) or fnmatch.fnmatchcase(os.path.basename(path), ex)
                   for ex in o.exclude_path)


def choose_feed(engine: Engine, tag: str | None, path: str) -> Feed:
    """The source named by ``tag``, else the tail source following ``path``, else the first; with no such
    source, plain messages with ``tag``."""
    # sources with a tag of their own first: forward and http take any tag their clients choose
    inputs = sorted(engine.inputs, key=lambda i: not getattr(i[0].options, "tag", ""))
    if tag is None:  # a DaemonSet config has a dozen tail sources: the one reading this file, as Fluentd would
        following = [i for i in inputs if isinstance(i[0], TailInput) and _follows(i[0], path)]
        inputs = following[:1] or inputs
    for plugin, label, name in inputs:
        source_tag = str(getattr(plugin.options, "tag", ""))
        push = isinstance(plugin, PushInput)  # its clients (or their messages) choose the tag
        if tag is not None and not (plugin.may_tag(tag) if isinstance(plugin, PushInput)
                                    else _tag_matches(source_tag, tag)):
            continue
        where = f"source {name} ({plugin.name}{f', @label {label}' if label else ''})"
        if isinstance(plugin, TailInput):
            return Feed(tag or plugin.tag_for(path), label, f"read by {where}", plugin, path)
        if push:
            return Feed(tag or source_tag or "sample", label, f"sent to {where}", push=plugin)
        return Feed(tag or source_tag, label, f"plain messages from {where}")
    assert tag is not None, "a config always has a source"
    return Feed(tag, None, "plain messages (no source has this tag)")


# --- running the lines ---------------------------------------------------------------------


def dry_run(engine: Engine, recorder: Recorder, feed: Feed, lines: Iterable[bytes]) -> Iterator[LineReport]:
    """One report per line, in order; a last one if records were still held at the end."""
    codec: LineCodec | None = None
    number = 0
    for number, line in enumerate(lines, 1):
        if feed.tail is not None and codec is None:
            codec = feed.tail.codec_for(feed.path, line)
        report = LineReport(number, line.decode("utf-8", "replace"), feed.tag)
        docs: list[bytes] = []
        if feed.push is not None:
            report.tag, docs = feed.push.sample(line, feed.tag)
        elif codec is None:
            docs.append(orjson.dumps({"@timestamp": now_rfc3339().decode(), "message": report.text}))
        else:
            codec.decode([line], 0, docs, [])
            report.held = not docs and codec.held_from() is not None
        yield _route(engine, recorder, feed, report, docs)
    if codec is not None and codec.held_from() is not None:
        docs = []
        codec.flush_partials(docs, [])
        yield _route(engine, recorder, feed, LineReport(None, "end of input: what was still held", feed.tag), docs)


def _route(engine: Engine, recorder: Recorder, feed: Feed, report: LineReport, docs: list[bytes]) -> LineReport:
    report.records = [orjson.loads(d) for d in docs]
    if docs:
        recorder.current = report
        try:
            engine.emit_tagged(Batch(report.tag, docs=docs), feed.label)
        finally:
            recorder.current = None
    return report


def read_lines(source: str) -> list[bytes]:
    """Lines as tail cuts them: split at newlines; a last line without one still counts."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


# --- the command ----------------------------------------------------------------------------


def check_lines(config_path: str, sample: str, tag: str | None = None, path: str | None = None,
                as_json: bool = False, out: TextIO | None = None) -> int:
    """``podlog check -c CONF --input SAMPLE``: 0 when the config is valid, 2 when not."""
    out = out or sys.stdout
    try:
        with collect() as notices:  # settings without effect: the same warnings as a plain check
            config = load_config(config_path)
            recorder = Recorder(config)
            engine = Engine(config, dry=recorder)
        for found in notices:
            print(f"podlog: warning: {found}", file=sys.stderr)
        feed = choose_feed(engine, tag, path or _default_path(sample))
        lines = read_lines(sample)
    except ConfigError as exc:
        print(f"podlog: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"podlog: {sample}: {exc.strerror}", file=sys.stderr)
        return 2
    engine_log = logging.getLogger("podlog.engine")
    level = engine_log.level
    engine_log.setLevel(logging.ERROR)  # "no output matches" is in the report, not a warning
    for flt in engine.filters:
        flt.start()
    try:
        if not as_json:
            out.write(_header(config_path, engine, recorder, feed, sample, len(lines)))
        for report in dry_run(engine, recorder, feed, lines):
            out.write(orjson.dumps(report.as_json()).decode() + "\n" if as_json else render(report))
    finally:
        for flt in engine.filters:
            flt.stop()
        engine_log.setLevel(level)
    return 0


def _default_path(sample: str) -> str:
    return "/dev/stdin" if sample == "-" else os.path.abspath(sample)


def _header(config_path: str, engine: Engine, recorder: Recorder, feed: Feed, sample: str, n: int) -> str:
    text = f"{config_path}: OK ({len(engine.inputs)} sources, {len(recorder.stand_ins)} outputs)\n"
    text += f"{sample}: {n} line{'s' if n != 1 else ''} as {feed.about}, tag {feed.tag}\n"
    if feed.tail is not None:
        fmt = feed.tail.options.container_format
        text += f"  envelope: container_format {fmt}{' (detected per file)' if fmt == 'auto' else ''}"
        text += f", file path {feed.path}\n" if "*" in feed.tail.options.tag else "\n"
    return text + "\n"


def render(report: LineReport) -> str:
    """One readable block per line: the line, what the source made of it, where each record went."""
    head = f"line {report.number}" if report.number is not None else "end"
    lines = [f"{head}: {report.text}"]
    if report.held:
        lines.append("  held: waiting for the rest of its record (a partial line, or a multiline event still open)")
    several = len(report.records) > 1
    for i, record in enumerate(report.records, 1):
        lines.append(f"  record{f' {i}' if several else ''}: {_dumps(record)}")
        if "parse_error" in record:
            lines.append(f"  parse error: {record['parse_error']}")
    lines.extend(_outcomes(report))
    return "\n".join(lines) + "\n\n"


def _outcomes(report: LineReport) -> Iterator[str]:
    source = [_dumps(r) for r in report.records]
    shown = list(source)

    def after_filters(record: dict[str, Any]) -> Iterator[str]:
        text = _dumps(record)
        if text not in shown:  # a filter changed it: show what routing saw
            shown.append(text)
            yield f"  after filters: {text}"

    for d in report.deliveries:
        yield from after_filters(d.record)
        text = _dumps(d.record)
        which = f" (record {source.index(text) + 1})" if len(source) > 1 and text in source else ""
        yield f"  -> {d.output} ({d.type}) via <match {d.match}>, tag {d.tag}{which}"
    for drop in report.drops:
        n = f"{drop.count} records " if drop.count != 1 else ""
        if drop.by is not None:
            yield f"  {n}dropped by filter {drop.by}"
            continue
        for record in drop.records:
            yield from after_filters(record)
        yield f"  {n}dropped: no output matches tag {drop.tag}"


def _dumps(record: dict[str, Any]) -> str:
    return orjson.dumps(record, default=str).decode()
