"""throttle: per-group limits per period, hysteresis, per-group drop counts in the agent's registry."""

from __future__ import annotations

import logging

import pytest

from podlog.telemetry.metrics import AgentMetrics
from tests.filters.helpers import fluent_filter, run, yaml_filter


def records(container: str, n: int) -> list[dict]:
    return [{"message": f"{container} {i}", "kubernetes": {"container_name": container}} for i in range(n)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dropped(metrics: AgentMetrics, group: str, name: str = "t") -> float:
    return metrics.registry.get_sample_value("podlog_filter_throttled_records_total",
                                             {"filter": name, "group": group}) or 0.0


def test_limit_per_group_and_period_with_drop_counts(caplog: pytest.LogCaptureFixture) -> None:
    metrics = AgentMetrics()
    flt = fluent_filter("<filter **>\n  @type throttle\n  group_key kubernetes.container_name\n"
                        "  group_bucket_period_s 60\n  group_bucket_limit 5\n</filter>\n", metrics=metrics, name="t")
    clock = flt.clock = Clock()  # type: ignore[attr-defined]
    mixed = records("api", 4) + records("web", 2) + records("api", 4)
    with caplog.at_level(logging.WARNING):
        out = run(flt, mixed)
    assert [r["message"] for r in out] == ["api 0", "api 1", "api 2", "api 3", "web 0", "web 1", "api 0"]
    assert dropped(metrics, "api") == 3 and dropped(metrics, "web") == 0
    assert "group api is over 5 records per 60s" in caplog.text
    clock.now += 61  # api sent 8 in the period: over the reset rate, it stays limited for the next one
    assert run(flt, records("api", 3)) == [] and len(run(flt, records("web", 3))) == 3
    clock.now += 61  # 3 in 61 s: under 5/60 s, released
    with caplog.at_level(logging.INFO):
        assert len(run(flt, records("api", 7))) == 5
    assert "group api is back under 5 records per 60s; 6 records dropped while limited" in caplog.text
    assert dropped(metrics, "api") == 3 + 3 + 2


def test_reset_rate_minus_one_releases_every_period_and_drop_logs_false_only_counts() -> None:
    flt = yaml_filter("  - type: throttle\n    group_key: [kubernetes.container_name]\n    group_bucket_limit: 2\n"
                      "    group_reset_rate_s: -1\n")
    clock = flt.clock = Clock()  # type: ignore[attr-defined]
    assert len(run(flt, records("api", 10))) == 2
    clock.now += 60
    assert len(run(flt, records("api", 10))) == 2
    counting = yaml_filter("  - type: throttle\n    group_bucket_limit: 2\n    group_drop_logs: false\n")
    assert len(run(counting, records("api", 10))) == 10


def test_several_group_keys_and_missing_fields() -> None:
    flt = yaml_filter("  - type: throttle\n    group_key: 'ns, $.kubernetes.container_name'\n"
                      "    group_bucket_limit: 1\n")
    rs = [{"ns": "a", "kubernetes": {"container_name": "x"}}, {"ns": "b", "kubernetes": {"container_name": "x"}},
          {"ns": "a", "kubernetes": {"container_name": "x"}}, {"other": 1}, {"other": 2}]
    assert run(flt, rs, as_docs=False) == [rs[0], rs[1], rs[3]]
