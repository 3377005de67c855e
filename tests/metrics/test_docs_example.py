"""docs/metrics.md's examples are configs the agent accepts, and count what the page says."""

from __future__ import annotations

import re
from pathlib import Path

from podlog.config.loader import load_config_text
from podlog.engine import Engine
from podlog.filters.metrics import MetricsFilter
from tests.filters.helpers import YAML_HEAD, run
from tests.metrics.test_rules import sample, scrape

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
LINE = '192.168.0.4 - - [01/May/2024:12:00:00 +0000] "GET /login HTTP/1.1" 200 512 "-" "curl/8"'


def test_access_log_example_and_regex_rule_count_the_same() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    engine = Engine(load_config_text(blocks[0], "metrics.md"))
    flt = engine.filters[0]
    assert isinstance(flt, MetricsFilter)
    parsed = {"remote": "192.168.0.4", "method": "GET", "path": "/login", "code": 200, "size": 512}
    run(flt, [parsed], tag="access")
    regex_rule = "  - type: metrics\n    rules:\n" + blocks[1]
    other = Engine(load_config_text(YAML_HEAD + regex_rule, "metrics.md")).filters[0]
    run(other, [{"message": LINE}], tag="access")
    labels = dict(remote="192.168.0.4", method="GET", path="/login", code="200")
    assert sample(scrape(flt), "http_requests_total", **labels) == 1
    assert sample(scrape(other), "http_requests_total", **labels) == 1
    assert sample(scrape(flt), "http_response_bytes_bucket", code="200", le="1000.0") == 1
