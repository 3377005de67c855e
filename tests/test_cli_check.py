"""``podlog check --input``: sample lines through the config's parser, filters and routing, nothing started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import podlog.pipeline
from podlog.batch import Batch
from podlog.cli import main
from podlog.filters._base import Filter, Filtered
from podlog.plugin import Plugin
from tests.drivers.es_double import EsDouble

FIXTURES = Path(__file__).parent / "config" / "fixtures"
DOCKER = (b'{"log":"{\\"level\\":\\"info\\",\\"port\\":8080}\\n","stream":"stdout",'
          b'"time":"2024-05-01T12:00:00.123456789Z"}\n')


class DropDebug(Filter):
    """A stand-in filter (the real filter plugins live elsewhere): drops level=debug, marks the rest."""

    name = "drop_debug"

    def filter(self, batch: Batch) -> Filtered:
        records = batch.records
        given = len(records)
        batch.keep([r.get("level") != "debug" for r in records])
        for record in batch.records:
            record["checked"] = True
        return Filtered(batch if len(batch) else None, given)


@pytest.fixture
def drop_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    real = podlog.pipeline.lookup

    def lookup(kind: str, name: str) -> type[Plugin]:
        return DropDebug if (kind, name) == ("filter", "drop_debug") else real(kind, name)

    monkeypatch.setattr(podlog.pipeline, "lookup", lookup)


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code, out, err = check(capsys, *argv, "--json")
    assert code == 0, err
    return [orjson.loads(line) for line in out.splitlines()]


def test_seed000_lines_reach_both_stores_of_the_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "sample.log"
    sample.write_bytes(DOCKER + b"not json\n")
    conf = str(FIXTURES / "seed000_sidecar_es.conf")
    first, second = check_json(capsys, "-c", conf, "--input", str(sample))
    record = {"@timestamp": "2024-05-01T12:00:00.123456789Z", "log": '{"level":"info","port":8080}\n',
              "stream": "stdout"}
    assert first["records"] == [record]
    assert [(o["output"], o["type"], o["match"], o["tag"], o["record"]) for o in first["outputs"]] == [
        ("@TO_ES:copy.0.0", "elasticsearch", "kubernetes.*.*", "kubernetes.mynodejs.api_server", record),
        ("@TO_ES:copy.0.1", "stdout", "kubernetes.*.*", "kubernetes.mynodejs.api_server", record),
    ]
    assert second["records"][0]["message"] == "not json"
    assert second["records"][0]["parse_error"].startswith("invalid JSON")
    assert len(second["outputs"]) == 2

    code, out, _ = check(capsys, "-c", conf, "--input", str(sample))
    assert code == 0
    assert f"{conf}: OK (1 sources, 2 outputs)" in out
    block = out.split("\n\n")[1]
    assert block.splitlines() == [
        "line 1: " + DOCKER.decode().rstrip("\n"),
        "  record: " + orjson.dumps(record).decode(),
        "  -> @TO_ES:copy.0.0 (elasticsearch) via <match kubernetes.*.*>, tag kubernetes.mynodejs.api_server",
        "  -> @TO_ES:copy.0.1 (stdout) via <match kubernetes.*.*>, tag kubernetes.mynodejs.api_server",
    ]
    assert "  parse error: invalid JSON" in out.split("\n\n")[2]


def test_tag_chooses_the_source_or_makes_plain_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "sample.log"
    sample.write_bytes(b"hello\n")
    conf = str(FIXTURES / "seed003_stdout.conf")
    (first,) = check_json(capsys, "-c", conf, "--input", str(sample))
    assert first["tag"] == "count.format1"
    (second,) = check_json(capsys, "-c", conf, "--input", str(sample), "--tag", "count.format2")
    assert second["tag"] == "count.format2"
    assert second["records"][0]["message"] == "hello"
    assert [(o["output"], o["match"]) for o in second["outputs"]] == [("stdout.0", "**")]
    (plain,) = check_json(capsys, "-c", str(FIXTURES / "seed000_sidecar_es.conf"), "--input", str(sample),
                          "--tag", "other.app")
    assert plain["records"][0]["message"] == "hello"
    assert plain["outputs"] == []
    assert plain["unmatched"] == [{"tag": "other.app", "count": 1, "records": plain["records"]}]


ROUTES = """
sources:
  - {{type: tail, path: [/var/log/containers/*.log], tag: "kube.*", container_format: auto, parser: json,
     pos_file: {tmp}/pos.json}}
  - {{type: tail, path: [/var/log/audit.log], tag: audit, label: "@AUDIT", pos_file: {tmp}/audit.pos}}
filters:
  - {{type: drop_debug, match: "kube.**"}}
outputs:
  - {{type: file, match: "kube.var.log.containers.{{web,api}}_**", path: "{tmp}/out/web.ndjson",
     buffer: {{type: file, path: "{tmp}/buffer"}}}}
  - {{type: elasticsearch, match: "kube.**", hosts: "{es}", buffer: {{type: file, path: "{tmp}/esbuf"}}}}
  - {{type: stdout, match: "kube.**"}}
labels:
  "@AUDIT":
    outputs:
      - {{type: stdout, id: audit_out, match: "nothing.here"}}
"""


def test_filters_first_match_labels_and_nothing_is_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], drop_debug: None
) -> None:
    sample = tmp_path / "sample.log"
    sample.write_bytes(
        b'2024-05-01T12:00:00.1Z stdout F {"level":"info","msg":"a"}\n'
        b'2024-05-01T12:00:00.2Z stdout F {"level":"debug","msg":"b"}\n'
        b"2024-05-01T12:00:00.3Z stdout P first half, \n"
        b"2024-05-01T12:00:00.4Z stdout F second half\n"
        b"2024-05-01T12:00:00.5Z stderr P never ended\n"
    )
    with EsDouble("es8") as es:
        conf = tmp_path / "agent.yaml"
        conf.write_text(ROUTES.format(tmp=tmp_path, es=es.url))
        before = sorted(tmp_path.rglob("*"))
        web = "/var/log/containers/web_shop_app-" + "a" * 64 + ".log"
        reports = check_json(capsys, "-c", str(conf), "--input", str(sample), "--path", web)
        db = check_json(capsys, "-c", str(conf), "--input", str(sample), "--path", "/var/log/containers/db.log")
        audit = check_json(capsys, "-c", str(conf), "--input", str(sample), "--tag", "audit")
        assert es.connections_accepted == 0
    assert sorted(tmp_path.rglob("*")) == before  # no pos_file, buffer or output file

    info, debug, half, whole, never, end = reports
    tag = "kube.var.log.containers.web_shop_app-" + "a" * 64 + ".log"
    assert info["tag"] == tag
    assert info["records"][0]["kubernetes"]["pod_name"] == "web"
    (delivered,) = info["outputs"]  # first match wins: the file output, not the later ones
    assert (delivered["output"], delivered["type"]) == ("file.0", "file")
    assert delivered["record"]["checked"] is True and "checked" not in info["records"][0]
    assert debug["outputs"] == [] and debug["dropped"] == [{"by": "drop_debug.0", "tag": tag, "count": 1}]
    assert half["held"] and half["records"] == [] and half["outputs"] == []
    assert whole["records"][0]["message"] == "first half, second half"
    assert never["held"]
    assert end["line"] is None and end["records"][0]["message"] == "never ended"
    assert end["records"][0]["podlog"] == {"incomplete": True}

    assert db[0]["tag"] == "kube.var.log.containers.db.log"
    assert [o["output"] for o in db[0]["outputs"]] == ["elasticsearch.1"]
    assert audit[0]["tag"] == "audit" and audit[0]["records"][0]["message"].endswith('"msg":"a"}')
    assert audit[0]["unmatched"] == [{"tag": "audit", "count": 1, "records": audit[0]["records"]}]  # @AUDIT: no match


def test_readable_blocks_for_drops_and_filter_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], drop_debug: None
) -> None:
    conf = tmp_path / "agent.yaml"
    conf.write_text('sources: [{type: tail, path: [/x.log], tag: app, parser: json, container_format: none}]\n'
                    'filters: [{type: drop_debug}]\noutputs: [{type: stdout, match: "other.**"}]\n')
    sample = tmp_path / "in.log"
    sample.write_text('{"level":"debug"}\n{"level":"info"}\n')
    code, out, err = check(capsys, "-c", str(conf), "--input", str(sample))
    assert code == 0 and err == ""
    header, first, second, _ = out.split("\n\n")
    assert header.splitlines()[1] == f"{sample}: 2 lines as read by source tail.0 (tail), tag app"
    assert first.splitlines()[-1] == "  dropped by filter drop_debug.0"
    assert second.splitlines()[-1] == "  dropped: no output matches tag app"
    assert '"checked":true' in second  # shown "after filters", before the drop by routing


def test_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text("sources: [{type: tail, path: [/x.log], rotate_wait: soon}]\noutputs: [{type: stdout}]\n")
    sample = tmp_path / "in.log"
    sample.write_text("x\n")
    code, out, err = check(capsys, "-c", str(conf), "--input", str(sample))
    assert (code, out) == (2, "")
    assert "rotate_wait: expected a duration" in err
    code, _, err = check(capsys, "-c", str(FIXTURES / "seed003_stdout.conf"), "--input", str(tmp_path / "none.log"))
    assert code == 2 and "none.log" in err


SHOP = """<source>
  @type tail
  path /var/log/shop/web.log
  tag shop.web
  @label @SHOP
  <parse>
    @type regexp
    expression /^(?<level>[A-Z]+) (?<msg>.*)$/
  </parse>
</source>
<label @SHOP>
  <filter shop.**>
    @type grep
    <exclude>
      key level
      pattern /^DEBUG$/
    </exclude>
  </filter>
  <match shop.{web,api}>
    @type rewrite_tag_filter
    <rule>
      key level
      pattern /^ERROR$/
      tag alert.${tag_parts[1]}
    </rule>
  </match>
  <match alert.**>
    @type copy
    <store>
      @type elasticsearch
      host elasticsearch
    </store>
    <store>
      @type stdout
    </store>
  </match>
</label>
"""


def test_real_filters_and_a_rewritten_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "fluent.conf"
    conf.write_text(SHOP)
    sample = tmp_path / "sample.log"
    sample.write_text("DEBUG cache warm\nERROR upstream timed out\nINFO fine\n")
    debug, error, info = check_json(capsys, "-c", str(conf), "--input", str(sample))
    assert debug["dropped"] == [{"by": "@SHOP:grep.0", "tag": "shop.web", "count": 1}]
    assert [(o["output"], o["type"], o["match"], o["tag"]) for o in error["outputs"]] == [
        ("@SHOP:copy.1.0", "elasticsearch", "alert.**", "alert.web"),
        ("@SHOP:copy.1.1", "stdout", "alert.**", "alert.web"),
    ]
    assert error["outputs"][0]["record"]["msg"] == "upstream timed out"
    assert info["outputs"] == []  # no rule rewrote it: the <match> rewrite_tag_filter took it and let it go
    assert info["dropped"] == [{"by": "@SHOP:rewrite_tag_filter.0", "tag": "shop.web", "count": 1}]


def test_dry_run_options_need_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, "-c", str(FIXTURES / "seed003_stdout.conf"), "--tag", "x")
    assert (code, out) == (2, "") and "--tag, --path and --json go with --input" in err
    code, out, _ = check(capsys, "-c", str(FIXTURES / "seed003_stdout.conf"))
    assert (code, out.strip()) == (0, f"{FIXTURES / 'seed003_stdout.conf'}: OK (2 sources, 1 outputs)")


def test_multiline_events_are_held_then_emitted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "agent.yaml"
    conf.write_text("sources: [{type: tail, path: [/x.log], tag: app, container_format: cri, multiline: java}]\n"
                    "outputs: [{type: stdout}]\n")
    sample = tmp_path / "in.log"
    sample.write_text("2024-05-01T12:00:00.1Z stdout F java.lang.IllegalStateException: boom\n"
                      "2024-05-01T12:00:00.1Z stdout F \tat com.shop.App.run(App.java:12)\n"
                      "2024-05-01T12:00:00.2Z stdout F next\n")
    trace, frame, nxt, *end = check_json(capsys, "-c", str(conf), "--input", str(sample))
    assert trace["held"] and frame["held"] and trace["outputs"] == frame["outputs"] == []
    emitted = [r["message"] for r in nxt["records"]] + [r["message"] for e in end for r in e["records"]]
    assert emitted == ["java.lang.IllegalStateException: boom\n\tat com.shop.App.run(App.java:12)", "next"]
    code, out, _ = check(capsys, "-c", str(conf), "--input", str(sample))
    assert code == 0
    assert "  held: waiting for the rest of its record" in out


def test_check_leaves_a_corrupt_pos_file_of_a_running_agent_alone(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    pos = tmp_path / "app.pos"
    pos.write_bytes(b'{"version": 1, "files": {"1:2": ')  # what a running agent's crash left
    conf = tmp_path / "agent.yaml"
    conf.write_text(f"sources:\n  - {{type: tail, path: [{tmp_path}/*.log], pos_file: {pos}, tag: app}}\n"
                    "outputs:\n  - {type: stdout}\n")
    code, out, _ = check(capsys, "-c", str(conf))
    assert code == 0 and "OK" in out
    assert pos.read_bytes() == b'{"version": 1, "files": {"1:2": ' and not list(tmp_path.glob("*.corrupt-*"))
