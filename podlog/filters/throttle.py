"""The ``throttle`` filter: a rate limit per group of records, as fluent-plugin-throttle.

Each group (by default a container) may pass ``group_bucket_limit`` records
per ``group_bucket_period_s``; past that the group is limited and its records
are dropped. A limited group stays limited, period after period, until its
incoming rate falls to ``group_reset_rate_s`` records/s (default: the limit's
own rate), so a flood does not pass a burst at the start of every period.

Decisions are made per group and batch, not per record: a batch from one file
is one group, and its first ``allowed`` records pass. Drops are counted per
group in ``podlog_filter_throttled_records`` (plus the engine's
``podlog_filter_dropped_records`` and the ledger), and logged when a group
becomes limited and when it recovers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from podlog.batch import Batch
from podlog.config.options import Option
from podlog.fields import FieldReader, as_text, parse_key
from podlog.filters._base import Filter, Filtered

__all__ = ["ThrottleFilter"]

log = logging.getLogger("podlog.filters.throttle")

MAX_GROUP_LABELS = 1000  # metric label values per filter; more groups count as OTHER
OTHER = "(other)"


class _Group:
    __slots__ = ("count", "dropped", "label", "last_warning", "limited", "start")

    def __init__(self, now: float, label: str) -> None:
        self.start = now
        self.count = 0          # records seen in this period, dropped ones included
        self.limited = False
        self.dropped = 0        # since the group became limited
        self.last_warning = float("-inf")
        self.label = label


class ThrottleFilter(Filter):
    """Limits each group (e.g. container) to group_bucket_limit records per group_bucket_period_s."""

    name: ClassVar[str] = "throttle"

    class Options(Filter.Options):
        group_key = Option("list", ["kubernetes.container_name"], doc="Fields that make a group (dotted paths or "
                           "$.a.b; several: comma-separated).")
        group_bucket_period_s = Option("duration", 60.0, doc="Length of a rate-limiting period.", min=0.001)
        group_bucket_limit = Option("int", 6000, doc="Records a group may pass per period.", min=0)
        group_drop_logs = Option("bool", True, doc="Drop records over the limit (false: only count and log them).")
        group_reset_rate_s = Option("float", -2.0, doc="A limited group is released when its rate falls to this "
                                    "many records/s; default: group_bucket_limit / group_bucket_period_s; -1: "
                                    "release at every new period.")
        group_warning_delay_s = Option("duration", 10.0, doc="Least time between two warnings about one group.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        if options.group_bucket_period_s <= 0:
            raise options.error("group_bucket_period_s", "must be more than 0")
        if options.group_bucket_limit < 0:
            raise options.error("group_bucket_limit", "must be 0 or more")
        try:
            self.keys = [parse_key(k) for k in options.group_key]
        except ValueError as exc:
            raise options.error("group_key", str(exc)) from None
        if not self.keys:
            raise options.error("group_key", "at least one field is needed")
        self.reader = FieldReader(self.keys)
        self.period = options.group_bucket_period_s
        self.limit = options.group_bucket_limit
        rate = options.group_reset_rate_s
        self.reset_rate = self.limit / self.period if rate == -2.0 else rate
        self.groups: dict[str, _Group] = {}
        self.labelled: set[str] = set()  # group names used as metric labels (bounded)
        self.lock = threading.Lock()
        self.clock: Callable[[], float] = time.monotonic
        self.last_sweep = self.clock()
        metrics = context.get("metrics")
        name = context.get("name", self.name)
        self.counter = metrics.throttled.labels if metrics is not None else None
        self.label_name = str(name)

    def filter(self, batch: Batch) -> Filtered:
        given = len(batch)
        if not given:
            return Filtered(batch, given)
        groups = self._group_names(batch)
        first = groups[0]
        if groups.count(first) == len(groups):  # the usual batch: one file, one container
            positions: Mapping[str, Sequence[int]] = {first: range(len(groups))}
        else:
            by_group: dict[str, list[int]] = {}
            for i, g in enumerate(groups):
                by_group.setdefault(g, []).append(i)
            positions = by_group
        mask: list[bool] | None = None
        with self.lock:
            now = self.clock()
            for g, where in positions.items():
                drop = self._take(g, len(where), now)
                if drop and self.options.group_drop_logs:
                    if mask is None:
                        mask = [True] * len(groups)
                    for i in list(where)[len(where) - drop:]:
                        mask[i] = False
            if now - self.last_sweep > self.period:
                self._sweep(now)
        if mask is not None:
            batch.keep(mask)
        return Filtered(batch, given)

    def _group_names(self, batch: Batch) -> list[str]:
        columns = self.reader.read(batch)
        if len(columns) == 1:
            return [v if type(v) is str else as_text(v) for v in columns[0]]
        return ["/".join(as_text(v) for v in row) for row in zip(*columns, strict=True)]

    def _take(self, name: str, n: int, now: float) -> int:
        """Account ``n`` records of group ``name``; returns how many of them (the last ones) are over."""
        g = self.groups.get(name)
        if g is None:
            if name not in self.labelled and len(self.labelled) < MAX_GROUP_LABELS:
                self.labelled.add(name)
            g = self.groups[name] = _Group(now, name if name in self.labelled else OTHER)
        elif now - g.start >= self.period:
            self._roll(name, g, now)
        allowed = 0 if g.limited else max(0, self.limit - g.count)
        g.count += n
        over = max(0, n - allowed)
        if over:
            self._over(name, g, over, now)
        return over

    def _roll(self, name: str, g: _Group, now: float) -> None:
        rate = g.count / (now - g.start)
        if g.limited and (self.reset_rate < 0 or rate <= self.reset_rate):
            g.limited = False
            log.info("throttle %s: group %s is back under %d records per %gs; %d records %s while limited",
                     self.label_name, name, self.limit, self.period, g.dropped, self._verb())
            g.dropped = 0
        g.start, g.count = now, 0

    def _over(self, name: str, g: _Group, over: int, now: float) -> None:
        if not g.limited or now - g.last_warning >= self.options.group_warning_delay_s:
            log.warning("throttle %s: group %s is over %d records per %gs; %s its records (%d so far)",
                        self.label_name, name, self.limit, self.period,
                        "dropping" if self.options.group_drop_logs else "only counting", g.dropped + over)
            g.last_warning = now
        g.limited = True
        g.dropped += over
        if self.counter is not None and self.options.group_drop_logs:
            self.counter(self.label_name, g.label).inc(over)

    def _verb(self) -> str:
        return "dropped" if self.options.group_drop_logs else "over the limit"

    def _sweep(self, now: float) -> None:
        """Forget groups idle for two periods (pods come and go); metric labels stay."""
        self.last_sweep = now
        stale = [k for k, g in self.groups.items() if not g.limited and now - g.start > 2 * self.period]
        for k in stale:
            del self.groups[k]
