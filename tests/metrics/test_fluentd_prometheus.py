"""fluent-plugin-prometheus's ``<filter> @type prometheus`` in a fluent.conf runs as the metrics filter.

The configs follow the plugin's README (``<metric>`` with name, type, desc, key, buckets, ``<labels>``;
plugin-wide ``<labels>``; ``max_series_per_metric``).
"""

from __future__ import annotations

import socket

import pytest

from podlog.config.errors import ConfigError
from tests.filters.helpers import fluent_filter, run
from tests.metrics.test_rules import sample, scrape

README_STYLE = """<filter message>
  @type prometheus
  max_series_per_metric 500
  <metric>
    name message_foo_counter
    type counter
    desc The total number of foo in message.
    key foo
    <labels>
      tag ${tag}
      host ${hostname}
      foo bar
    </labels>
  </metric>
  <metric>
    name message_records
    type counter
    desc Records seen.
  </metric>
  <metric>
    name message_foo_gauge
    type gauge
    desc The latest foo.
    key $.foo
  </metric>
  <metric>
    name message_foo
    type histogram
    desc The histogram of foo in message.
    key foo
    buckets 0.1, 1, 5, 10
    max_series_per_metric 10
  </metric>
  <labels>
    namespace $.kubernetes.namespace_name
  </labels>
</filter>
"""


def test_readme_style_metrics_count_like_the_plugin() -> None:
    flt = fluent_filter(README_STYLE)
    shop = {"namespace_name": "shop"}
    records = [{"foo": 3, "kubernetes": shop}, {"foo": 4, "kubernetes": shop},
               {"foo": 0.5, "kubernetes": {"namespace_name": "dev"}}, {"bar": 1}]
    assert run(flt, records, tag="message") == records
    s = scrape(flt)
    host = socket.gethostname()
    # counters are exposed with _total, as prometheus_client (and OpenMetrics) name them
    assert sample(s, "message_foo_counter_total", tag="message", host=host, foo="bar", namespace="shop") == 7
    assert sample(s, "message_foo_counter_total", tag="message", host=host, foo="bar", namespace="dev") == 0.5
    assert sample(s, "message_records_total", namespace="shop") == 2
    assert sample(s, "message_records_total", namespace="") == 1  # a missing field is an empty label
    assert sample(s, "message_foo_gauge", namespace="dev") == 0.5
    assert sample(s, "message_foo_bucket", namespace="shop", le="5.0") == 2
    assert sample(s, "message_foo_bucket", namespace="dev", le="1.0") == 1
    assert sample(s, "podlog_metrics_skipped_records_total", metric="message_foo_counter_total") == 1  # no foo
    rules = flt.options.rules
    assert flt.options.max_series == 500 and rules[3]["max_series"] == "10"


@pytest.mark.parametrize(("metric", "message"), [
    ("name m\n    type summary\n    desc d\n    key foo", "summary is not supported"),
    ("name m\n    type counter\n    desc d\n    initialized true", "initialized: not supported in <metric>"),
    ("name m\n    type counter\n    desc d\n    <labels>\n      w ${worker_id}\n    </labels>", "${worker_id} is not"),
    ("name m\n    type gauge\n    desc d", "a gauge needs the field"),
])
def test_what_podlog_does_not_map_is_a_config_error_at_its_line(metric: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        fluent_filter(f"<filter **>\n  @type prometheus\n  <metric>\n    {metric}\n  </metric>\n</filter>\n")
    assert message in str(err.value)
    assert "fluent.conf:" in str(err.value)
