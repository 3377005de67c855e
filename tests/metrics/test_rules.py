"""metrics filter: rules, label allow-list, LRU eviction and idle expiry (injected clock), reload, bounded memory."""

from __future__ import annotations

import tracemalloc
from typing import Any

import orjson
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from podlog.config.errors import ConfigError
from podlog.config.loader import load_config_text
from podlog.filters.metrics import MetricsFilter
from tests.filters.helpers import YAML_HEAD, batch_of, run, yaml_filter


class Clock:
    """Time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scrape(flt: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the filter's registry exposes, parsed back from the Prometheus text format."""
    text = generate_latest(flt.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def sample(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


ACCESS = [
    {"remote": "10.0.0.1", "method": "GET", "path": "/", "code": 200, "size": 120, "message": "a"},
    {"remote": "10.0.0.1", "method": "GET", "path": "/", "code": 200, "size": 80, "message": "b"},
    {"remote": "10.0.0.2", "method": "POST", "path": "/login", "code": "401", "size": "15", "message": "c"},
    {"remote": "10.0.0.2", "method": "GET", "path": "/x", "code": 404, "size": "-", "message": "d"},
]


@pytest.mark.parametrize("as_docs", [True, False])
def test_counter_by_fields_counts_each_label_set_and_passes_records_unchanged(as_docs: bool) -> None:
    flt = yaml_filter("  - type: metrics\n    rules:\n"
                      "      - {name: http_requests_total, type: counter, help: Requests., "
                      "labels: [remote, method, path, code]}\n")
    assert run(flt, ACCESS, as_docs=as_docs) == ACCESS
    s = scrape(flt)
    assert sample(s, "http_requests_total", remote="10.0.0.1", method="GET", path="/", code="200") == 2
    assert sample(s, "http_requests_total", remote="10.0.0.2", method="POST", path="/login", code="401") == 1
    assert sample(s, "http_requests_total", remote="10.0.0.2", method="GET", path="/x", code="404") == 1
    assert sample(s, "podlog_metrics_series", metric="http_requests_total") == 3


def test_counter_by_value_gauge_and_histogram_skip_values_that_are_not_numbers() -> None:
    flt = yaml_filter("  - type: metrics\n    rules:\n"
                      "      - {name: bytes_total, type: counter, value: size, labels: [method]}\n"
                      "      - {name: last_size, type: gauge, value: size, labels: [remote]}\n"
                      "      - {name: size, type: histogram, value: size, buckets: [50, 100]}\n")
    run(flt, ACCESS)
    s = scrape(flt)
    assert sample(s, "bytes_total", method="GET") == 200  # the "-" of the last record is skipped
    assert sample(s, "bytes_total", method="POST") == 15
    assert sample(s, "last_size", remote="10.0.0.1") == 80  # a gauge takes the latest value
    assert sample(s, "last_size", remote="10.0.0.2") == 15
    assert sample(s, "size_bucket", le="50.0") == 1
    assert sample(s, "size_bucket", le="100.0") == 2  # cumulative; 100 <= le
    assert sample(s, "size_bucket", le="+Inf") == 3
    assert sample(s, "size_sum") == 215
    assert sample(s, "podlog_metrics_skipped_records_total", metric="bytes_total") == 1
    assert sample(s, "podlog_metrics_skipped_records_total", metric="size") == 1


def test_selection_by_tag_where_and_regex_groups_as_labels_and_value() -> None:
    flt = yaml_filter("  - type: metrics\n    rules:\n"
                      "      - {name: web_total, type: counter, tag: 'web.**'}\n"
                      "      - {name: errors_total, type: counter, where: [{key: code, pattern: '/^[45]/'}], "
                      "labels: [code]}\n"
                      "      - {name: took_ms_total, type: counter, regex: 'took (?<ms>\\d+)ms in (?<step>\\w+)', "
                      "value: ms, labels: [step]}\n")
    records = [{"message": "took 12ms in parse", "code": 200}, {"message": "took 30ms in parse", "code": 500},
               {"message": "took 5ms in write"}, {"message": "nothing", "code": 404}]
    run(flt, records, tag="web.front")
    run(flt, records, tag="batch")
    s = scrape(flt)
    assert sample(s, "web_total") == 4  # only the web.front batch
    assert sample(s, "errors_total", code="500") == 2
    assert sample(s, "errors_total", code="404") == 2
    assert sample(s, "took_ms_total", step="parse") == 84
    assert sample(s, "took_ms_total", step="write") == 10


def test_grok_labels_tag_hostname_and_constants() -> None:
    flt = yaml_filter("  - type: metrics\n    rules:\n"
                      "      - name: lines_total\n        type: counter\n        key: log\n"
                      "        grok: '%{WORD:verb} %{NUMBER:n}'\n"
                      "        labels: {verb: verb, t: $tag, host: $hostname}\n"
                      "        const_labels: {team: shop}\n")
    run(flt, [{"log": "GET 1"}, {"log": "PUT 2"}, {"log": "-"}], tag="app.x")
    s = scrape(flt)
    import socket

    assert sample(s, "lines_total", verb="GET", t="app.x", host=socket.gethostname(), team="shop") == 1
    assert sample(s, "lines_total", verb="PUT", t="app.x", host=socket.gethostname(), team="shop") == 1


def test_drop_rule_drops_what_it_selects_and_still_counts() -> None:
    flt = yaml_filter("  - type: metrics\n    rules:\n"
                      "      - {name: health_total, type: counter, where: [{key: path, pattern: '^/$'}], drop: true}\n")
    left = run(flt, ACCESS)
    assert [r["path"] for r in left] == ["/login", "/x"]
    assert sample(scrape(flt), "health_total") == 2


@pytest.mark.parametrize(("rule", "message"), [
    ("{name: m, type: counter, labels: [message]}", "the message is never a label"),
    ("{name: m, type: counter, labels: [$.log]}", "the message is never a label"),
    ("{name: m, type: gauge}", "a gauge needs the field"),
    ("{name: 'bad-name', type: counter}", "Prometheus metric name"),
    ("{name: podlog_x, type: counter}", "podlog_ prefix"),
    ("{name: m, type: summary}", "expected one of counter, gauge, histogram"),
    ("{name: m, type: histogram, value: v, buckets: [5, 1]}", "increasing numbers"),
    ("{name: m, type: histogram, value: v, labels: [le]}", "le is reserved"),
    ("{name: m, type: counter, labels: {a: x, b: x}, const_labels: {a: y}}", "label a given twice"),
    ("{name: m, type: counter, regex: '(unclosed'}", "invalid regular expression"),
    ("{name: m, type: counter, colour: red}", "rules[0].colour: unknown key"),
])
def test_bad_rules_are_config_errors_with_file_and_line(rule: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        yaml_filter(f"  - type: metrics\n    rules:\n      - {rule}\n")
    assert message in str(err.value)
    assert "agent.yaml:" in str(err.value)


def test_same_metric_in_two_filters_of_one_agent_is_refused() -> None:
    from podlog.engine import Engine

    config = load_config_text(YAML_HEAD + "  - {type: metrics, rules: [{name: m_total, type: counter}]}\n"
                                          "  - {type: metrics, rules: [{name: m_total, type: counter}]}\n", "a.yaml")
    with pytest.raises(ConfigError, match=r"already defined by filter metrics\.0"):
        Engine(config)


def _filter(rules: str, clock: Clock, **options: str) -> MetricsFilter:
    extra = "".join(f"    {k}: {v}\n" for k, v in options.items())
    flt = yaml_filter(f"  - type: metrics\n{extra}    rules:\n{rules}", clock=clock)
    assert isinstance(flt, MetricsFilter)
    return flt


def test_past_max_series_the_least_recently_updated_series_is_evicted(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    flt = _filter("      - {name: hits_total, type: counter, labels: [user]}\n", clock, max_series="3")
    for user in ["a", "b", "c", "a", "d", "e"]:  # "a" updated again: "b" is now the oldest, then "c"
        clock.now += 1
        flt.filter(batch_of([{"user": user}]))
    assert [r.message for r in caplog.records].count(
        "metric hits_total reached max_series (3): its least recently updated series are evicted "
        "(podlog_metrics_series_evicted_total); consider fewer labels") == 1  # once, not per eviction
    s = scrape(flt)
    assert {k[1][0][1] for k in s if k[0] == "hits_total"} == {"a", "d", "e"}
    assert sample(s, "hits_total", user="a") == 2
    assert sample(s, "podlog_metrics_series_evicted_total", metric="hits_total", reason="limit") == 2


def test_idle_series_expire_gauges_early_counters_late() -> None:
    clock = Clock()
    flt = _filter("      - {name: hits_total, type: counter, labels: [user]}\n"
                  "      - {name: level, type: gauge, value: v, labels: [user]}\n", clock)
    flt.filter(batch_of([{"user": "a", "v": 1}, {"user": "b", "v": 2}]))
    clock.now += 200
    flt.filter(batch_of([{"user": "b", "v": 3}]))
    clock.now += 200  # a: idle 400 s, b: idle 200 s; gauges expire after 300 s, counters after 3600 s
    s = scrape(flt)
    assert sample(s, "level", user="a") is None
    assert sample(s, "level", user="b") == 3
    assert sample(s, "hits_total", user="a") == 1
    assert sample(s, "podlog_metrics_series_evicted_total", metric="level", reason="idle") == 1
    clock.now += 3600
    s = scrape(flt)
    assert sample(s, "hits_total", user="a") is None and sample(s, "hits_total", user="b") is None
    assert sample(s, "podlog_metrics_series_evicted_total", metric="hits_total", reason="idle") == 2


def test_rule_expire_overrides_the_filter_default() -> None:
    clock = Clock()
    flt = _filter("      - {name: hits_total, type: counter, labels: [user], expire: 10s}\n", clock)
    flt.filter(batch_of([{"user": "a"}]))
    clock.now += 9
    assert sample(scrape(flt), "hits_total", user="a") == 1
    clock.now += 2
    assert sample(scrape(flt), "hits_total", user="a") is None


def test_a_flood_of_distinct_label_values_keeps_memory_bounded() -> None:
    clock = Clock()
    flt = _filter("      - {name: by_client_total, type: counter, labels: [remote, path]}\n", clock,
                  max_series="1000")
    batch = [{"remote": f"10.0.{i % 256}.{i // 256 % 256}", "path": f"/item/{i}"} for i in range(1000)]

    def flood(rounds: int, start: int) -> None:
        for r in range(start, start + rounds):
            flt.filter(batch_of([{"remote": b["remote"], "path": f"{b['path']}/{r}"} for b in batch]))

    flood(5, 0)  # warm up to the limit
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    flood(50, 5)  # 50,000 more distinct label sets
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    s = scrape(flt)
    assert sample(s, "podlog_metrics_series", metric="by_client_total") == 1000
    assert sample(s, "podlog_metrics_series_evicted_total", metric="by_client_total", reason="limit") == 54000
    assert grown < 2_000_000, grown  # 50,000 unbounded series would hold well over 10 MB


def test_reload_keeps_unchanged_counters_and_resets_changed_ones() -> None:
    clock = Clock()
    flt = _filter("      - {name: hits_total, type: counter, labels: [user]}\n"
                  "      - {name: per_code_total, type: counter, labels: [code]}\n", clock)
    flt.filter(batch_of([{"user": "a", "code": 200}, {"user": "a", "code": 500}]))
    config = load_config_text(YAML_HEAD + "  - type: metrics\n    rules:\n"
                              "      - {name: hits_total, type: counter, help: Hits by user., labels: [user]}\n"
                              "      - {name: per_code_total, type: counter, labels: [code, user]}\n"
                              "      - {name: new_total, type: counter}\n", "agent.yaml")
    spec = config.main.filters[0]
    flt.reload(MetricsFilter.Options.from_mapping(spec.options, spec.where, ""))
    flt.filter(batch_of([{"user": "a", "code": 200}]))
    s = scrape(flt)
    assert sample(s, "hits_total", user="a") == 3  # kept across the reload (new help text is fine)
    assert sample(s, "per_code_total", code="200", user="a") == 1  # new labels: a new metric
    assert sample(s, "per_code_total", code="500") is None
    assert sample(s, "new_total") == 1
    text = generate_latest(flt.registry).decode()
    assert "# HELP hits_total Hits by user." in text


def test_reload_with_a_bad_rule_keeps_the_running_rules() -> None:
    clock = Clock()
    flt = _filter("      - {name: hits_total, type: counter}\n", clock)
    flt.filter(batch_of([{}]))
    config = load_config_text(YAML_HEAD + "  - {type: metrics, rules: [{name: x, type: gauge}]}\n", "agent.yaml")
    spec = config.main.filters[0]
    with pytest.raises(ConfigError, match="a gauge needs"):
        flt.reload(MetricsFilter.Options.from_mapping(spec.options, spec.where, ""))
    flt.filter(batch_of([{}]))
    assert sample(scrape(flt), "hits_total") == 2


def test_whole_batch_decode_and_per_document_fallback_count_the_same() -> None:
    from podlog.batch import Batch

    rule = "      - {name: r_total, type: counter, labels: [method, code]}\n"
    fast, slow, records = (yaml_filter(f"  - type: metrics\n    rules:\n{rule}") for _ in range(3))
    docs = [b'{"method":"GET","code":200,"x":{"a":[1,2]}}', b'{"method":"GET","code":200}',
            b'{"method":{"odd":true},"code":"500"}', b'{"code":500}']
    fast.filter(Batch("a", docs=list(docs)))
    slow.filter(Batch("a", docs=[*docs, b'{"method": "PUT", "code": 2']))  # one broken document: the slow path
    records.filter(Batch("a", records=[orjson.loads(d) for d in docs]))
    want = {("GET", "200"): 2.0, ('{"odd":true}', "500"): 1.0, ("", "500"): 1.0}
    for flt in (fast, slow, records):
        s = scrape(flt)
        got = {(dict(k[1])["method"], dict(k[1])["code"]): v for k, v in s.items() if k[0] == "r_total"}
        assert got == want | ({("", ""): 1.0} if flt is slow else {})


def test_a_metric_without_labels_from_records_shows_from_the_start_and_never_expires() -> None:
    clock = Clock()
    flt = _filter("      - {name: errors_total, type: counter, const_labels: {app: shop}, "
                  "where: [{key: level, pattern: error}]}\n"
                  "      - {name: took, type: histogram, value: ms, buckets: [1]}\n", clock)
    s = scrape(flt)
    assert sample(s, "errors_total", app="shop") == 0  # rate() works before the first error
    assert sample(s, "took_count") == 0
    flt.filter(batch_of([{"level": "error", "ms": 0.5}]))
    clock.now += 10 * 86400
    s = scrape(flt)
    assert sample(s, "errors_total", app="shop") == 1 and sample(s, "took_count") == 1


def test_counter_x_and_x_total_are_one_metric() -> None:
    with pytest.raises(ConfigError, match="requests_total is defined twice"):
        yaml_filter("  - type: metrics\n    rules:\n      - {name: requests, type: counter}\n"
                    "      - {name: requests_total, type: counter, labels: [code]}\n")
    flt = yaml_filter("  - type: metrics\n    rules:\n      - {name: requests, type: counter, tag: a}\n"
                      "      - {name: requests_total, type: counter, tag: b}\n")
    run(flt, [{}], tag="a")
    run(flt, [{}], tag="b")
    s = scrape(flt)
    assert sample(s, "requests_total") == 2
    assert sample(s, "podlog_metrics_series", metric="requests_total") == 1
