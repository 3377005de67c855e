"""fluent.conf ``@type stdout``: Fluentd's ``time tag: record`` lines unless ``format json`` is asked for."""

from __future__ import annotations

import pytest

from podlog.config.errors import ConfigError
from podlog.config.fluentd import load_fluentd_text
from podlog.engine import build_plugin

SOURCE = "<source>\n  @type tail\n  path /x.log\n  tag a\n</source>\n"


def stdout_format(match_body: str) -> object:
    config = load_fluentd_text(SOURCE + f"<match **>\n  @type stdout\n{match_body}</match>\n", "fluent.conf", {})
    (spec,) = config.main.outputs
    return build_plugin(spec).options.format  # the output accepts what the mapping made


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "fluentd"),
        ("  format json\n", "json"),
        ("  <format>\n    @type json\n  </format>\n", "json"),
        ("  <format>\n    @type stdout\n  </format>\n", "fluentd"),
    ],
)
def test_stdout_formats(body: str, expected: str) -> None:
    assert stdout_format(body) == expected


def test_other_formatters_are_refused_at_their_line() -> None:
    with pytest.raises(ConfigError, match=r"^fluent.conf:8: format: stdout prints with @type stdout"):
        stdout_format("  format ltsv\n")
