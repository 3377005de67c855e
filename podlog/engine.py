"""Builds the pipeline from a Config and runs it: inputs -> filters -> router -> output runners.

Routing follows Fluentd: every matching ``<filter>`` in order, then the first
matching ``<match>``; a source with a label routes into that label's section.
Fan-out (``copy``) retains the batch's ack once per destination, so a source
commits its offset only when all of them have acknowledged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from podlog.batch import Batch
from podlog.buffer.memory import SharedLimit
from podlog.buffer.options import BufferOptions
from podlog.buffer.runner import OutputRunner
from podlog.config.errors import ConfigError
from podlog.config.model import Config, PluginSpec, Section
from podlog.filters._base import Filter
from podlog.inputs._base import Input
from podlog.outputs._base import Output
from podlog.plugin import Plugin, lookup
from podlog.router import Router, TagPattern
from podlog.telemetry.ledger import Ledger, SourceAck, note_drop
from podlog.telemetry.metrics import AgentMetrics, StateCollector

__all__ = ["DryRun", "Engine", "Target", "build_plugin"]

log = logging.getLogger("podlog.engine")


def build_plugin(spec: PluginSpec, **context: Any) -> Plugin:
    """Instantiate a plugin from its spec; unknown types and bad options become ConfigError."""
    try:
        cls = lookup(spec.kind, spec.type)
    except KeyError as exc:
        raise ConfigError(spec.where.child("type") if "type" in getattr(spec.where, "key_lines", {}) else spec.where,
                          str(exc.args[0])) from None
    options = cls.Options.from_mapping(spec.options, spec.where, f"{spec.where.path}." if spec.where.path else "")
    return cls(options, **context)


def _lag(plugin: Input) -> dict[str, int]:
    """Per-file lag of inputs that know it; read from another thread, so a racing change yields {}."""
    try:
        return plugin.lag_bytes() if hasattr(plugin, "lag_bytes") else {}
    except RuntimeError:  # the input's file table changed while we iterated
        return {}


class Target(Protocol):
    """Where routing hands a batch: an OutputRunner, or a dry run's stand-in."""

    def submit(self, batch: Batch) -> None: ...


class DryRun(Protocol):
    """What ``podlog check --input`` plugs in, so a dry run follows the real routing code.

    Outputs become the stand-ins ``target`` returns (no runner, buffer or connection is
    ever made), and routing reports each drop: ``by`` names the filter, None means no
    ``<match>`` took the tag.
    """

    def target(self, spec: PluginSpec, name: str, output: Output) -> Target: ...

    def dropped(self, batch: Batch, n: int, by: str | None) -> None: ...


# Filters that Fluentd configures as a <match> (an output that re-emits): they may stand where outputs do.
FILTER_OUTPUTS = ("rewrite_tag_filter",)


class _FilterTarget:
    """A filter in an output's place: what it re-emits is routed again, what it leaves is dropped (counted)."""

    def __init__(self, flt: Filter, name: str) -> None:
        self.filter = flt
        self.name = name
        self.drop: Callable[[Batch, int, str], None] = lambda batch, n, by: None  # the pipeline's, once built

    def submit(self, batch: Batch) -> None:
        left = self.filter.filter(batch)
        if left is not None and len(left):
            self.drop(batch, len(left), self.name)


class _Pipeline:
    """Filters and outputs of one section (top level or a label), with cached routing."""

    def __init__(
        self,
        filters: list[tuple[TagPattern, Filter, str]],
        outputs: list[tuple[TagPattern, list[Target]]],
        metrics: AgentMetrics,
        dry: DryRun | None = None,
    ) -> None:
        self.filters: Router[tuple[Filter, str]] = Router([(p, (f, n)) for p, f, n in filters])
        self.outputs: Router[list[Target]] = Router(outputs)
        self.metrics = metrics
        self.dry = dry

    def drop(self, batch: Batch, n: int, by: str) -> None:
        """Count ``n`` records of ``batch`` that the filter ``by`` dropped on purpose."""
        self.metrics.filtered.labels(by).inc(n)
        note_drop(batch, n, "filtered")
        if self.dry is not None:
            self.dry.dropped(batch, n, by)

    def emit(self, batch: Batch) -> None:
        current: Batch | None = batch
        ack = batch.ack
        for flt, name in self.filters.every(batch.tag):
            assert current is not None  # the loop returns once a filter keeps nothing
            before = len(current)
            current = flt.filter(current)
            left = len(current) if current is not None else 0
            dropped = before - left - flt.moved()  # records re-emitted under a new tag are not drops
            if dropped > 0:
                self.drop(batch if current is None else current, dropped, name)
            if current is None or left == 0:
                ack.release()
                return
        assert current is not None
        targets = self.outputs.first(current.tag)
        if not targets:
            self.metrics.unmatched.labels(current.tag.split(".", 1)[0]).inc(len(current))
            log.warning("no output matches tag %r: %d records dropped", current.tag, len(current))
            note_drop(current, len(current), "unmatched")
            if self.dry is not None:
                self.dry.dropped(current, len(current), None)
        else:
            if isinstance(current.ack, SourceAck):
                current.ack.share = 1.0 / len(targets)  # fan-out: each copy settles its share of a record
            for runner in targets:
                runner.submit(current)
        current.ack.release()


class Engine:
    def __init__(self, config: Config, dry: DryRun | None = None) -> None:
        self.config = config
        self.dry = dry
        self.metrics = AgentMetrics()
        self.ledger = Ledger()
        self.shared_limit = SharedLimit(getattr(config.agent, "total_limit_size", 0))
        self.runners: list[OutputRunner] = []
        self.filters: list[Filter] = []
        self.named_filters: dict[str, Filter] = {}  # by the name metrics and reloads know them by
        self._pipelines: dict[str | None, _Pipeline] = {None: self._section(config.main, None)}
        for name, section in config.labels.items():
            self._pipelines[name] = self._section(section, name)
        self.inputs: list[tuple[Input, str | None, str]] = []
        for i, spec in enumerate(config.sources):
            if spec.label is not None and spec.label not in self._pipelines:
                raise ConfigError(spec.where, f"label {spec.label!r} is not defined")
            plugin = build_plugin(spec)
            assert isinstance(plugin, Input)
            self.inputs.append((plugin, spec.label, spec.id or f"{spec.type}.{i}"))
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.started = self.stopping = False
        self.last_tick = time.monotonic()
        self.server: Any = None
        self.metrics.registry.register(StateCollector(self.status))

    def status(self) -> dict[str, Any]:
        """Live state of sources, outputs and the loss ledger (for /status, /metrics, ``podlog status``)."""
        inputs = [{"name": name, "type": plugin.name, "records": getattr(plugin, "read_records", 0),
                   "bytes": getattr(plugin, "read_bytes", 0), "lag": _lag(plugin),
                   "files_waiting": getattr(plugin, "files_waiting", dict)(),
                   **({"connections": getattr(plugin, "connections", 0), "refused": dict(plugin.stats)}  # push
                      if hasattr(plugin, "stats") else {})}
                  for plugin, _, name in self.inputs]
        alive = time.monotonic() - self.last_tick < 5.0 and all(p.healthy() for p, _, _ in self.inputs)
        return {"alive": alive, "started": self.started,
                "stopping": self.stopping, "inputs": inputs, "outputs": [r.status() for r in self.runners],
                "ledger": self.ledger.snapshot()}

    # --- building ------------------------------------------------------------------

    def _section(self, section: Section, label: str | None) -> _Pipeline:
        """The pipeline of the top level (label None) or of a label; plugin names are prefixed by the label.

        Filters get ``emit`` bound to this label: re-emitted records stay in it, as in Fluentd.
        """
        prefix = f"{label}:" if label else ""
        filters = []
        for i, spec in enumerate(section.filters):
            name = spec.id or f"{prefix}{spec.type}.{i}"
            filters.append((self._pattern(spec), self._filter(spec, name, label), name))
        outputs: list[tuple[TagPattern, list[Target]]] = []
        filter_targets: list[_FilterTarget] = []
        for i, spec in enumerate(section.outputs):
            if spec.type in FILTER_OUTPUTS:
                filter_targets.append(self._filter_target(spec, spec.id or f"{prefix}{spec.type}.{i}", label))
                outputs.append((self._pattern(spec), [filter_targets[-1]]))
                continue
            stores = spec.stores if spec.type == "copy" else [spec]
            base = spec.id or f"{prefix}{spec.type}.{i}"
            names = [f"{base}.{j}" if len(stores) > 1 else base for j in range(len(stores))]
            runners = [self._runner(store, n) for store, n in zip(stores, names, strict=True)]
            outputs.append((self._pattern(spec), runners))
        pipeline = _Pipeline(filters, outputs, self.metrics, self.dry)
        for target in filter_targets:
            target.drop = pipeline.drop
        return pipeline

    def _filter(self, spec: PluginSpec, name: str, label: str | None) -> Filter:
        plugin = build_plugin(spec, emit=functools.partial(self.emit_tagged, label=label), metrics=self.metrics,
                              name=name)
        assert isinstance(plugin, Filter)
        self.filters.append(plugin)
        self.named_filters[name] = plugin
        return plugin

    def _filter_target(self, spec: PluginSpec, name: str, label: str | None) -> _FilterTarget:
        if spec.buffer is not None:
            raise ConfigError(spec.buffer_where or spec.where, f"{spec.type} re-emits records at once: no buffer")
        return _FilterTarget(self._filter(dataclasses.replace(spec, kind="filter"), name, label), name)

    @staticmethod
    def _pattern(spec: PluginSpec) -> TagPattern:
        try:
            return TagPattern(spec.match or "**")
        except ValueError as exc:
            raise ConfigError(spec.where.child("match"), str(exc)) from None

    def _runner(self, spec: PluginSpec, name: str) -> Target:
        output = build_plugin(spec)
        assert isinstance(output, Output)
        where = spec.buffer_where or spec.where.child("buffer")
        options = BufferOptions.from_mapping(spec.buffer or {}, where, f"{where.path}.")
        if self.dry is not None:
            return self.dry.target(spec, spec.id or name, output)
        try:
            runner = OutputRunner(spec.id or name, output, options, self.metrics,
                                  self.ledger, self.config.agent.data_dir, self.shared_limit)
        except (ValueError, OSError) as exc:
            raise ConfigError(where, str(exc)) from None
        self.runners.append(runner)
        return runner

    def emit_tagged(self, batch: Batch, label: str | None = None) -> None:
        """Re-enter routing (filters that rewrite tags use it)."""
        self._pipelines[label].emit(batch)

    # --- running ---------------------------------------------------------------------

    def start(self) -> None:
        for runner in self.runners:
            runner.start()
        for flt in self.filters:
            flt.start()
        for plugin, label, name in self.inputs:
            pipeline = self._pipelines[label]
            plugin.run(self._counting_emit(pipeline, name))

    def _counting_emit(self, pipeline: _Pipeline, name: str) -> Any:
        records = self.metrics.input_records.labels(name)
        ledger = self.ledger

        def emit(batch: Batch) -> None:
            records.inc(len(batch))
            ledger.add_read(name, len(batch))
            batch.ack = SourceAck(batch.ack, name, ledger)  # lets every stage credit this source
            pipeline.emit(batch)

        return emit

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or every bounded input finished); then shut down cleanly."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
            signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        from podlog.telemetry.server import serve

        try:
            self.server = serve(self, self.config.agent.http_listen) if self.config.agent.http_listen else None
        except OSError as exc:  # before anything starts: nothing read, nothing to undo
            log.error("cannot serve http_listen %s: %s (another agent on this port? choose another "
                      "agent.http_listen, or leave it empty)", self.config.agent.http_listen, exc.strerror or exc)
            return 2
        self.start()
        self.started = True
        log.info("podlog agent running: %d inputs, %d outputs", len(self.inputs), len(self.runners))
        while not self._stop.wait(0.2):
            self.last_tick = time.monotonic()
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if self.inputs and all(p.finished() for p, _, _ in self.inputs):
                log.info("every input reached its end")
                break
        return self.shutdown()

    def reload(self) -> None:
        """SIGHUP: re-read the config; filters that can (a ``reload`` method) take their new options.

        Anything else (sources, outputs, filters added or removed) needs a restart. A bad
        config is logged and the running one kept.
        """
        from podlog.config.loader import load_config

        reloaded: list[str] = []
        try:
            config = load_config(self.config.file)
            for label, section in [(None, config.main), *config.labels.items()]:
                for i, spec in enumerate(section.filters):
                    name = spec.id or f"{label + ':' if label else ''}{spec.type}.{i}"
                    flt = self.named_filters.get(name)
                    if flt is not None and flt.name == spec.type and hasattr(flt, "reload"):
                        prefix = f"{spec.where.path}." if spec.where.path else ""
                        flt.reload(type(flt).Options.from_mapping(spec.options, spec.where, prefix))
                        reloaded.append(name)
        except ConfigError as exc:
            done = f" (reloaded before it: {', '.join(reloaded)})" if reloaded else ""
            log.error("SIGHUP: config not reloaded, the running one stays%s: %s", done, exc)
            return
        log.info("SIGHUP: reloaded %s", ", ".join(reloaded) or "nothing (only metrics rules reload; "
                                                               "other changes need a restart)")

    def shutdown(self) -> int:
        """Stop reading, flush within the grace period, commit positions, stop outputs."""
        deadline = time.monotonic() + self.config.agent.grace_period
        self.stopping = True
        for runner in self.runners:
            runner.refuse()  # an input blocked on a full buffer must be able to stop
        for plugin, _, _ in self.inputs:
            plugin.stop()
        drained = all(r.drain(deadline) for r in self.runners)
        if not drained:
            log.warning("grace period over with undelivered records: their positions are not committed, "
                        "they will be read again at the next start")
        for plugin, _, _ in self.inputs:
            plugin.commit()
        for runner in self.runners:
            runner.stop()
        for flt in self.filters:
            flt.stop()
        if self.server is not None:
            self.server.close()
        return 0
