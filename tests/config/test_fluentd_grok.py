"""fluent.conf ``<grok>`` sections: several of them in one ``<parse>`` are tried in order, like Fluentd's."""

from __future__ import annotations

import pytest

from podlog.config.fluentd import load_fluentd_text
from podlog.parsers import build_parser
from podlog.parsers.grok import pattern_library

CONF = """<source>
  @type tail
  path /var/log/app.log
  tag app
  <parse>
    @type grok
    <grok>
      pattern user=%{WORD:user} took=%{NUMBER:ms:integer}
    </grok>
    <grok>
      pattern %{IP:client} %{WORD:verb}
    </grok>
  </parse>
</source>
<match **>
  @type stdout
</match>
"""


def test_two_grok_sections_load_as_a_list_in_order() -> None:
    (source,) = load_fluentd_text(CONF, "fluent.conf", {}).sources
    parser = source.options["parser"]
    assert parser["type"] == "grok"
    assert parser["grok"] == [{"pattern": "user=%{WORD:user} took=%{NUMBER:ms:integer}"},
                              {"pattern": "%{IP:client} %{WORD:verb}"}]


@pytest.mark.skipif(not pattern_library(), reason="grok pattern library package not installed")
def test_the_sections_parse_lines_first_match_wins() -> None:
    (source,) = load_fluentd_text(CONF, "fluent.conf", {}).sources
    parser = build_parser(source.options["parser"], source.where.child("parser"))
    ok, other, none = parser.parse([b"user=ann took=12", b"10.0.0.1 GET", b"???"])
    assert ok == {"user": "ann", "ms": 12}
    assert other == {"client": "10.0.0.1", "verb": "GET"}
    assert not isinstance(none, dict)
