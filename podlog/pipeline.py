"""Builds the pipeline a config describes: sources, sections, filters, routes and outputs.

Building is apart from running (``podlog/engine.py``) so that ``podlog check`` and
the dry run (``podlog check --input``) build exactly what the agent runs. Who
builds chooses what an output becomes (``Outputs``): the agent's ``Runners``
(buffered, retried, not started here), or a dry run's stand-ins that only record.

Routing follows Fluentd: every matching ``<filter>`` in order, then the first
matching ``<match>``; a source with a label routes into that label's section.
Fan-out (``copy``) retains the batch's ack once per destination, so a source
commits its offset only when all of them have acknowledged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from podlog.batch import Batch
from podlog.buffer.memory import SharedLimit
from podlog.buffer.options import BufferOptions
from podlog.buffer.runner import OutputRunner
from podlog.config.errors import ConfigError, Located
from podlog.config.model import Config, PluginSpec, Section
from podlog.filters._base import Filter
from podlog.inputs._base import Input
from podlog.outputs._base import Output
from podlog.plugin import Plugin, lookup
from podlog.router import Router, TagPattern
from podlog.telemetry.ledger import Ledger
from podlog.telemetry.metrics import AgentMetrics

__all__ = ["FILTER_OUTPUTS", "Outputs", "Pipeline", "Route", "Runners", "Source", "Target", "build",
           "build_plugin", "filter_name"]

log = logging.getLogger("podlog.engine")  # the agent's routing warnings keep the logger users know

# Filters that Fluentd configures as a <match> (an output that re-emits): they may stand where outputs do.
FILTER_OUTPUTS = ("rewrite_tag_filter",)


def build_plugin(spec: PluginSpec, **context: Any) -> Plugin:
    """Instantiate a plugin from its spec; unknown types and bad options become ConfigError."""
    try:
        cls = lookup(spec.kind, spec.type)
    except KeyError as exc:
        raise ConfigError(spec.where.child("type") if "type" in spec.where.key_lines else spec.where,
                          str(exc.args[0])) from None
    options = cls.Options.from_mapping(spec.options, spec.where, f"{spec.where.path}." if spec.where.path else "")
    return cls(options, **context)


def filter_name(spec: PluginSpec, index: int, label: str | None) -> str:
    """The name metrics, logs and reloads know a filter by: its ``@id``, else ``[label:]type.index``."""
    return spec.id or f"{label + ':' if label else ''}{spec.type}.{index}"


class Target(Protocol):
    """Where routing hands a batch: an OutputRunner, or a dry run's stand-in."""

    def submit(self, batch: Batch) -> None: ...


class Outputs(Protocol):
    """What the builder's caller makes of each output, and how it hears of drops.

    ``target`` gets the output plugin and its buffer options already checked, and
    returns what routing submits to. ``dropped`` hears of every drop routing made:
    ``by`` names the filter, None means no ``<match>`` took the tag.
    """

    def target(self, spec: PluginSpec, name: str, output: Output, buffer: BufferOptions, where: Located) -> Target:
        ...

    def dropped(self, batch: Batch, n: int, by: str | None) -> None: ...


class Source(NamedTuple):
    """A built input, the label its records go to, and its name (metrics, ledger, status)."""

    input: Input
    label: str | None
    name: str


class FilterTarget:
    """A filter in an output's place: what it re-emits is routed again, what it leaves is dropped (counted)."""

    def __init__(self, flt: Filter, name: str) -> None:
        self.filter = flt
        self.name = name
        self.drop: Callable[[Batch, int, str], None] = lambda batch, n, by: None  # the route's, once built

    def submit(self, batch: Batch) -> None:
        left = self.filter.filter(batch).kept
        if left:
            self.drop(batch, left, self.name)


class Route:
    """Filters and outputs of one section (top level or a label), with cached routing."""

    def __init__(
        self,
        filters: list[tuple[TagPattern, Filter, str]],
        outputs: list[tuple[TagPattern, list[Target]]],
        metrics: AgentMetrics,
        observer: Outputs,
    ) -> None:
        self.filters: Router[tuple[Filter, str]] = Router([(p, (f, n)) for p, f, n in filters])
        self.outputs: Router[list[Target]] = Router(outputs)
        self.metrics = metrics
        self.observer = observer

    def drop(self, batch: Batch, n: int, by: str) -> None:
        """Count ``n`` records of ``batch`` that the filter ``by`` dropped on purpose."""
        self.metrics.filtered.labels(by).inc(n)
        batch.ack.settle(n, "filtered")
        self.observer.dropped(batch, n, by)

    def emit(self, batch: Batch) -> None:
        current = batch
        ack = batch.ack
        for flt, name in self.filters.every(batch.tag):
            result = flt.filter(current)
            if result.dropped > 0:  # records re-emitted under a new tag (moved) are not drops
                self.drop(batch if result.batch is None else result.batch, result.dropped, name)
            if result.batch is None or not result.kept:
                ack.release()
                return
            current = result.batch
        targets = self.outputs.first(current.tag)
        if not targets:
            self.metrics.unmatched.labels(current.tag.split(".", 1)[0]).inc(len(current))
            log.warning("no output matches tag %r: %d records dropped", current.tag, len(current))
            current.ack.settle(len(current), "unmatched")
            self.observer.dropped(current, len(current), None)
        else:
            current.ack.share = 1.0 / len(targets)  # fan-out: each copy settles its share of a record
            for runner in targets:
                runner.submit(current)
        current.ack.release()


class Pipeline:
    """What a config builds: its sources, and the route of each section with its filters and targets.

    Nothing is started: the engine starts the targets, filters and inputs (in that
    order) and hands each source's batches to ``route(label).emit``.
    """

    def __init__(self, config: Config, metrics: AgentMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.routes: dict[str | None, Route] = {}
        self.sources: list[Source] = []
        self.filters: list[Filter] = []
        self.named_filters: dict[str, Filter] = {}  # by the name metrics and reloads know them by
        self.targets: list[Target] = []  # one per output (each store of a copy), in config order

    def route(self, label: str | None) -> Route:
        return self.routes[label]

    def emit_tagged(self, batch: Batch, label: str | None = None) -> None:
        """Enter routing in a section (the top level: None); filters that rewrite tags re-enter here."""
        self.routes[label].emit(batch)


def build(config: Config, outputs: Outputs, metrics: AgentMetrics | None = None) -> Pipeline:
    """The pipeline of ``config``, its outputs made by ``outputs``; ConfigError names the file and line."""
    return _Builder(config, outputs, metrics or AgentMetrics()).build()


class _Builder:
    def __init__(self, config: Config, outputs: Outputs, metrics: AgentMetrics) -> None:
        self.outputs = outputs
        self.pipeline = Pipeline(config, metrics)

    def build(self) -> Pipeline:
        pipeline = self.pipeline
        config = pipeline.config
        pipeline.routes[None] = self._section(config.main, None)
        for name, section in config.labels.items():
            pipeline.routes[name] = self._section(section, name)
        for i, spec in enumerate(config.sources):
            if spec.label is not None and spec.label not in pipeline.routes:
                raise ConfigError(spec.where, f"label {spec.label!r} is not defined")
            plugin = build_plugin(spec)
            assert isinstance(plugin, Input)
            pipeline.sources.append(Source(plugin, spec.label, spec.id or f"{spec.type}.{i}"))
        return pipeline

    def _section(self, section: Section, label: str | None) -> Route:
        """The route of the top level (label None) or of a label; plugin names are prefixed by the label.

        Filters get ``emit`` bound to this label: re-emitted records stay in it, as in Fluentd.
        """
        prefix = f"{label}:" if label else ""
        filters = []
        for i, spec in enumerate(section.filters):
            name = filter_name(spec, i, label)
            filters.append((self._pattern(spec), self._filter(spec, name, label), name))
        outputs: list[tuple[TagPattern, list[Target]]] = []
        filter_targets: list[FilterTarget] = []
        for i, spec in enumerate(section.outputs):
            if spec.type in FILTER_OUTPUTS:
                filter_targets.append(self._filter_target(spec, spec.id or f"{prefix}{spec.type}.{i}", label))
                outputs.append((self._pattern(spec), [filter_targets[-1]]))
                continue
            stores = spec.stores if spec.type == "copy" else [spec]
            base = spec.id or f"{prefix}{spec.type}.{i}"
            names = [f"{base}.{j}" if len(stores) > 1 else base for j in range(len(stores))]
            targets = [self._target(store, n) for store, n in zip(stores, names, strict=True)]
            outputs.append((self._pattern(spec), targets))
        route = Route(filters, outputs, self.pipeline.metrics, self.outputs)
        for target in filter_targets:
            target.drop = route.drop
        return route

    def _filter(self, spec: PluginSpec, name: str, label: str | None) -> Filter:
        pipeline = self.pipeline
        plugin = build_plugin(spec, emit=functools.partial(pipeline.emit_tagged, label=label),
                              metrics=pipeline.metrics, name=name)
        assert isinstance(plugin, Filter)
        pipeline.filters.append(plugin)
        pipeline.named_filters[name] = plugin
        return plugin

    def _filter_target(self, spec: PluginSpec, name: str, label: str | None) -> FilterTarget:
        if spec.buffer is not None:
            raise ConfigError(spec.buffer_where or spec.where, f"{spec.type} re-emits records at once: no buffer")
        return FilterTarget(self._filter(dataclasses.replace(spec, kind="filter"), name, label), name)

    @staticmethod
    def _pattern(spec: PluginSpec) -> TagPattern:
        try:
            return TagPattern(spec.match or "**")
        except ValueError as exc:
            raise ConfigError(spec.where.child("match"), str(exc)) from None

    def _target(self, spec: PluginSpec, name: str) -> Target:
        output = build_plugin(spec)
        assert isinstance(output, Output)
        where = spec.buffer_where or spec.where.child("buffer")
        options = BufferOptions.from_mapping(spec.buffer or {}, where, f"{where.path}.")
        target = self.outputs.target(spec, spec.id or name, output, options, where)
        self.pipeline.targets.append(target)
        return target


class Runners:
    """The agent's ``Outputs``: an ``OutputRunner`` per output (built, not started: ``podlog check`` builds
    them too, so a buffer the agent could not make fails the check, and nothing is written)."""

    def __init__(self, config: Config, metrics: AgentMetrics | None = None, ledger: Ledger | None = None) -> None:
        self.config = config
        self.metrics = metrics or AgentMetrics()
        self.ledger = ledger or Ledger()
        self.shared_limit = SharedLimit(config.agent.total_limit_size)
        self.runners: list[OutputRunner] = []

    def target(self, spec: PluginSpec, name: str, output: Output, buffer: BufferOptions, where: Located) -> Target:
        try:
            runner = OutputRunner(name, output, buffer, self.metrics, self.ledger, self.config.agent.data_dir,
                                  self.shared_limit)
        except (ValueError, OSError) as exc:
            raise ConfigError(where, str(exc)) from None
        self.runners.append(runner)
        return runner

    def dropped(self, batch: Batch, n: int, by: str | None) -> None:
        """Drops are counted by routing (metrics, ledger); the agent needs nothing more."""
