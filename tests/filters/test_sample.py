"""sample (Fluentd: sampling): 1 in N per group, probability, deterministic by a field's hash."""

from __future__ import annotations

import pytest

from podlog.config.errors import ConfigError
from tests.filters.helpers import batch_of, fluent_filter, run, yaml_filter


def numbered(n: int, **extra: object) -> list[dict]:
    return [{"n": i, **extra} for i in range(n)]


def test_interval_keeps_every_nth_across_batches_per_tag() -> None:
    flt = fluent_filter("<filter **>\n  @type sampling\n  interval 10\n  sample_unit tag\n</filter>\n")
    kept = [r["n"] for r in run(flt, numbered(25), tag="a")] + [r["n"] for r in run(flt, numbered(25), tag="a")]
    assert kept == [0, 10, 20, 5, 15]  # one stream of 50: the 1st, 11th, 21st...
    assert [r["n"] for r in run(flt, numbered(5), tag="b")] == [0]  # a new tag, a new count


def test_groups_by_field_and_minimum_rate() -> None:
    flt = yaml_filter("  - type: sample\n    interval: 3\n    sample_unit: $.kubernetes.pod\n"
                      "    minimum_rate_per_min: 2\n")
    rs = [{"n": i, "kubernetes": {"pod": "p" if i % 2 else "q"}} for i in range(12)]
    kept = [r["n"] for r in run(flt, rs)]
    # each pod: 6 records; the first 2 kept by the minimum, then 1 in 3 of the other 4
    assert kept == [0, 1, 2, 3, 4, 5, 10, 11]


def test_hash_key_is_deterministic_across_instances_and_roughly_the_fraction() -> None:
    conf = "  - type: sample\n    probability: 0.25\n    hash_key: trace_id\n"
    a, b = yaml_filter(conf), yaml_filter(conf)
    rs = [{"trace_id": f"t-{i // 4}", "i": i} for i in range(8000)]  # 4 spans per trace
    kept_a, kept_b = run(a, rs), run(b, rs[::-1])
    assert sorted(r["i"] for r in kept_a) == sorted(r["i"] for r in kept_b)
    assert 0.21 < len(kept_a) / len(rs) < 0.29
    traces = {r["trace_id"] for r in kept_a}
    assert all(sum(r["trace_id"] == t for r in kept_a) == 4 for t in list(traces)[:50])  # whole traces


def test_probability_and_dropped_docs_stay_serialised() -> None:
    flt = yaml_filter("  - type: sample\n    probability: 0.5\n    sample_unit: all\n")
    batch = batch_of(numbered(4000))
    result = flt.filter(batch)
    out = result.batch
    assert out is not None and out.has_docs() and 1700 < len(out) < 2300
    assert result.kept == len(out) and result.dropped == 4000 - len(out) and not result.moved


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="exactly one of interval"):
        yaml_filter("  - type: sample\n    interval: 2\n    probability: 0.5\n")
    with pytest.raises(ConfigError, match="cannot be combined with hash_key"):
        yaml_filter("  - type: sample\n    interval: 2\n    hash_key: id\n    minimum_rate_per_min: 5\n")


def test_group_counters_stay_bounded_with_a_high_cardinality_field(monkeypatch: pytest.MonkeyPatch) -> None:
    import podlog.filters.sample as sample

    monkeypatch.setattr(sample, "MAX_GROUPS", 50)
    flt = yaml_filter("  - type: sample\n    interval: 2\n    sample_unit: request_id\n")
    for round_ in range(10):
        kept = run(flt, [{"request_id": f"r{round_}-{i}"} for i in range(40)])
        assert len(kept) == 40  # each group's first record is kept
        assert len(flt.counts) <= 50
    assert [r["n"] for r in run(flt, [{"request_id": "r9-0", "n": 1}, {"request_id": "r9-0", "n": 2}])] == [2]
