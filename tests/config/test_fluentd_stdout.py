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


def test_fluentd_format_prints_the_event_time(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    from podlog.batch import Batch
    from podlog.config.errors import Located
    from podlog.outputs._base import Chunk
    from podlog.outputs.stdout import StdoutOutput

    out = StdoutOutput(StdoutOutput.Options.from_mapping({"format": "fluentd"}, Located("t", 0, ""), ""))
    chunk = Chunk("count.format1", 0.0)
    chunk.add(Batch("count.format1", docs=[b'{"@timestamp":"2024-05-01T12:00:00.123456789Z","message":"0: a"}',
                                            b'{"@timestamp":"2024-05-01T14:00:00.5+02:00","message":"b"}',
                                            b'{"message":"no time"}']), 0)
    out.write(chunk)
    lines = capsysbinary.readouterr().out.splitlines()
    assert lines[0] == (b'2024-05-01 12:00:00.123456789 +0000 count.format1: '
                        b'{"@timestamp":"2024-05-01T12:00:00.123456789Z","message":"0: a"}')
    assert lines[1].startswith(b"2024-05-01 14:00:00.500000000 +0200 count.format1: ")
    assert lines[2].endswith(b' +0000 count.format1: {"message":"no time"}') and lines[2][:2] == b"20"


@pytest.mark.parametrize("body", ["  format json\n", "  <format>\n    @type json\n  </format>\n"])
def test_file_output_accepts_format_json(body: str) -> None:
    config = load_fluentd_text(SOURCE + f"<match **>\n  @type file\n  path /tmp/x\n{body}</match>\n", "fluent.conf", {})
    assert dict(config.main.outputs[0].options) == {"path": "/tmp/x"}


def test_file_output_refuses_other_formats_at_their_line() -> None:
    with pytest.raises(ConfigError, match=r"^fluent.conf:9: format: the file output writes JSON lines only"):
        load_fluentd_text(SOURCE + "<match **>\n  @type file\n  path /tmp/x\n  format ltsv\n</match>\n",
                          "fluent.conf", {})
