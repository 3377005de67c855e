"""The ``metrics`` filter: Prometheus metrics from log records, on the agent's ``/metrics``.

What mtail and grok_exporter do for an access log (requests by client,
method, path and status), as a filter: rules select records, count them or
take a value from them, and the agent's ``/metrics`` exposes the result.
Records pass on unchanged unless a rule says ``drop: true``.

The rule logic lives in ``podlog.metrics``. A SIGHUP reloads the rules: a
metric whose name, type, labels and buckets did not change keeps its series
(a counter that went back to zero would read as a reset).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client import CollectorRegistry

from podlog.batch import Batch
from podlog.config.errors import ConfigError
from podlog.config.options import Option
from podlog.filters._base import Filter, Filtered
from podlog.metrics.collector import LogMetricsCollector, collector_for
from podlog.metrics.rules import RuleError, RuleSet, build_rules
from podlog.metrics.series import COUNTER, GAUGE, HISTOGRAM

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.yaml_loader import LineDict

__all__ = ["MetricsFilter"]

_RULES_DOC = (
    "A list of rules, each a mapping: name (Prometheus metric name; counters are exposed with _total), "
    "type (counter, gauge, histogram), help; which records: tag (a tag pattern), where (a list of {key, pattern} "
    "that must all match), regex or grok (on key, message by default; capture groups can be labels or the value); "
    "labels (a list of fields, or a mapping label: field; $tag and $hostname too; never the message), "
    "const_labels (label: value), value (the field or group a gauge or histogram takes, or a counter adds; "
    "without it a counter counts records), buckets (histograms), drop (drop the records the rule selects), "
    "max_series and expire (override the filter's).")


class MetricsFilter(Filter):
    """Counts records, or observes a field of them, into Prometheus metrics by rules."""

    name: ClassVar[str] = "metrics"
    reloadable: ClassVar[bool] = True

    class Options(Filter.Options):
        rules = Option("any", doc=_RULES_DOC)
        max_series = Option("int", 10000, doc="Most series (label sets) one metric holds; past it the series "
                            "updated longest ago is evicted (podlog_metrics_series_evicted_total). 0: no limit.")
        gauge_expire = Option("duration", 300.0, doc="A gauge series not updated for this long is dropped "
                              "(a stale gauge misleads). 0: never.")
        counter_expire = Option("duration", 3600.0, doc="A counter or histogram series not updated for this "
                                "long is dropped. Keep it well beyond scrape intervals and rate() windows: a "
                                "counter that comes back from zero reads as a reset. 0: never.")

    options: Options

    @classmethod
    def fluentd(cls, options: LineDict, section: FluentdSection) -> None:
        """fluent-plugin-prometheus's filter (``@type prometheus``): its ``<metric>`` sections become rules."""
        if section.type == "prometheus":
            _prometheus(options)

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.owner = str(context.get("name") or "metrics")
        self.clock = context.get("clock") or time.monotonic
        metrics = context.get("metrics")
        self.registry: CollectorRegistry = metrics.registry if metrics is not None else CollectorRegistry()
        self.collector: LogMetricsCollector = collector_for(self.registry)
        self.rules = self._build(options, None)

    def _build(self, options: Options, old: RuleSet | None) -> RuleSet:
        expire = {COUNTER: options.counter_expire, HISTOGRAM: options.counter_expire, GAUGE: options.gauge_expire}
        try:
            rules = build_rules(options.rules, options.max_series, expire, self.clock)
        except RuleError as exc:
            raise _located(options, exc) from None
        except ValueError as exc:
            raise options.error("rules", str(exc)) from None
        if old is not None:
            kept = {t.spec: t for t in old.tables}
            for table in rules.tables:
                if table.spec in kept:
                    table.adopt(kept[table.spec])
        try:
            self.collector.claim(self.owner, rules.tables)
        except ValueError as exc:
            raise options.error("rules", str(exc)) from None
        return rules

    def reload(self, options: Options) -> None:
        """New rules from a reloaded config; unchanged metrics keep their series. ConfigError keeps the old."""
        self.rules = self._build(options, self.rules)
        self.options = options

    def filter(self, batch: Batch) -> Filtered:
        given = len(batch)
        keep = self.rules.apply(batch)
        if keep is not None:
            batch.keep(keep)
        return Filtered(batch, given)

    def stop(self) -> None:
        self.collector.release(self.owner)


def _located(options: MetricsFilter.Options, exc: RuleError) -> ConfigError:
    """The error at the rule's own line (and key) when the config remembers it, else at ``rules``."""
    rule = options.rules[exc.index] if isinstance(options.rules, list) else None
    if rule is not None and hasattr(rule, "located"):
        base = options._where.path if options._where is not None and options._where.path else ""
        where = rule.located(f"{base}.rules[{exc.index}]" if base else f"rules[{exc.index}]")
        return ConfigError(where.child(exc.key) if exc.key else where, str(exc).split(": ", 1)[-1])
    return options.error("rules", str(exc))


def _prometheus(options: LineDict) -> None:
    """``<metric>`` sections (name, type, desc, key, buckets, ``<labels>``) become the metrics filter's rules.

    Label values follow the plugin: ``$.a.b``/``$[..]`` read the record, ``${tag}`` and ``${hostname}`` are the
    tag and host, anything else is a constant. The plugin-wide ``<labels>`` apply to every metric.
    """
    from podlog.config.fluentd_plugin import put
    from podlog.config.yaml_loader import LineDict

    metrics = options.pop("metric", None)
    line = options.key_lines.pop("metric", options.line)
    common = options.pop("labels", None)
    options.key_lines.pop("labels", None)
    if not isinstance(metrics, list):
        raise ConfigError(options.located("filter"), "@type prometheus needs at least one <metric> section")
    if "max_series_per_metric" in options:
        line_max = options.key_lines.pop("max_series_per_metric")
        put(options, "max_series", options.pop("max_series_per_metric"), line_max)
    rules = []
    for metric in metrics:
        where = metric.located("metric")
        rule = LineDict(metric.file, metric.line)
        renames = {"name": "name", "type": "type", "desc": "help", "key": "value", "buckets": "buckets",
                   "max_series_per_metric": "max_series"}
        for key, value in metric.items():
            if key == "labels":
                continue
            if key not in renames:
                raise ConfigError(where.child(key), f"not supported in <metric>; supported: {', '.join(renames)}, "
                                                    "<labels>")
            put(rule, renames[key], value, metric.key_lines.get(key, metric.line))
        if rule.get("type") == "summary":
            raise ConfigError(where.child("type"), "summary is not supported; a histogram with buckets gives "
                                                   "quantiles in Prometheus (histogram_quantile)")
        labels, consts = LineDict(metric.file, metric.line), LineDict(metric.file, metric.line)
        for section in (common, metric.get("labels")):
            for label, value in (section or {}).items():
                text = str(value)
                if text.startswith(("$.", "$[")) or text in ("${tag}", "${hostname}"):
                    labels[label] = text
                elif text.startswith("${"):
                    raise ConfigError(section.located("labels").child(label),
                                      f"{text} is not supported; use ${{tag}}, ${{hostname}}, $.field or a constant")
                else:
                    consts[label] = text
        if labels:
            put(rule, "labels", labels, metric.line)
        if consts:
            put(rule, "const_labels", consts, metric.line)
        rules.append(rule)
    put(options, "rules", rules, line)
