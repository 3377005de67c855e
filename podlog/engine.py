"""Runs the pipeline ``podlog.pipeline`` builds: starts it, serves its status, reloads, shuts down.

The engine owns what exists only while the agent runs: signals, the status server,
the loss ledger's reads, SIGHUP reloads and the orderly shutdown (stop reading,
drain within the grace period, commit positions). What the config builds (sources,
routes, filters, output runners) is the ``Pipeline``; ``podlog check`` builds the same.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from podlog.batch import Batch
from podlog.config.errors import ConfigError
from podlog.config.model import Config
from podlog.inputs._base import Input
from podlog.pipeline import Pipeline, Route, Runners, build, build_plugin, filter_name
from podlog.telemetry.ledger import Ledger
from podlog.telemetry.metrics import AgentMetrics, StateCollector

__all__ = ["Engine", "build_plugin"]

log = logging.getLogger("podlog.engine")


def _lag(plugin: Input) -> dict[str, int]:
    """Per-file lag of inputs that know it; read from another thread, so a racing change yields {}."""
    try:
        return plugin.lag_bytes()
    except RuntimeError:  # the input's file table changed while we iterated
        return {}


class Engine:
    """The agent: the pipeline of ``config`` with output runners, run until stopped.

    ``inputs``, ``filters`` and ``named_filters`` are the pipeline's (``Source`` tuples, then filters in
    config order, and by name); ``runners`` the output runners, one per output.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = AgentMetrics()
        self.ledger = Ledger()
        outputs = Runners(config, self.metrics, self.ledger)
        self.pipeline: Pipeline = build(config, outputs, self.metrics)
        self.runners = outputs.runners
        self.inputs = self.pipeline.sources
        self.filters = self.pipeline.filters
        self.named_filters = self.pipeline.named_filters  # by the name metrics and reloads know them by
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.started = self.stopping = False
        self.last_tick = time.monotonic()
        self.server: Any = None
        self.metrics.registry.register(StateCollector(self.status))

    def status(self) -> dict[str, Any]:
        """Live state of sources, outputs and the loss ledger (for /status, /metrics, ``podlog status``)."""
        inputs = [{"name": name, "type": plugin.name, "records": plugin.read_records,
                   "bytes": plugin.read_bytes, "lag": _lag(plugin), "files_waiting": plugin.files_waiting(),
                   **plugin.status()}
                  for plugin, _, name in self.inputs]
        alive = time.monotonic() - self.last_tick < 5.0 and all(p.healthy() for p, _, _ in self.inputs)
        return {"alive": alive, "started": self.started,
                "stopping": self.stopping, "inputs": inputs, "outputs": [r.status() for r in self.runners],
                "ledger": self.ledger.snapshot()}

    # --- running ---------------------------------------------------------------------

    def start(self) -> None:
        for runner in self.runners:
            runner.start()
        for flt in self.filters:
            flt.start()
        for plugin, label, name in self.inputs:
            pipeline = self.pipeline.route(label)
            plugin.run(self._counting_emit(pipeline, name))

    def _counting_emit(self, pipeline: Route, name: str) -> Any:
        records = self.metrics.input_records.labels(name)
        ledger = self.ledger

        def emit(batch: Batch) -> None:
            records.inc(len(batch))
            ledger.add_read(name, len(batch))
            batch.ack.attach(name, ledger)  # every stage settles records on the ack; it tells the ledger
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
        """SIGHUP: re-read the config; filters that can (``reloadable``) take their new options.

        Anything else (sources, outputs, filters added or removed) needs a restart. A bad
        config is logged and the running one kept.
        """
        from podlog.config.loader import load_config

        reloaded: list[str] = []
        try:
            config = load_config(self.config.file)
            for label, section in [(None, config.main), *config.labels.items()]:
                for i, spec in enumerate(section.filters):
                    name = filter_name(spec, i, label)
                    flt = self.named_filters.get(name)
                    if flt is not None and flt.name == spec.type and flt.reloadable:
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
