"""Multiline events end to end: a real `podlog agent` tailing real files into a real NDJSON output."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.codecs.test_multiline import GO, JAVA, PYTHON, RUBY
from tests.conftest import read_ndjson, wait_for


def config(tmp: Path, path: Path, extra: str) -> str:
    return f"""
agent: {{grace_period: 10s}}
sources:
  - type: tail
    path: [{path}]
    pos_file: {tmp}/pos.json
    read_from_head: true
    stat_interval: 0.1s
    checkpoint_interval: 0.1s
    tag: app
{extra}
outputs:
  - type: file
    path: {tmp}/out.ndjson
    buffer: {{flush_interval: 0.05s}}
"""


def messages(out: Path) -> list[str]:
    return [r["message"] for r in read_ndjson(out)]


def committed(tmp: Path) -> list[int]:
    try:
        return [e["offset"] for e in orjson.loads((tmp / "pos.json").read_bytes())["files"].values()]
    except (OSError, ValueError):
        return []


def test_traces_of_four_languages_become_one_record_each(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    traces = [JAVA, PYTHON, GO, RUBY]
    log.write_text("".join(f"INFO {n}\n{trace}\n" for n, trace in enumerate(traces)) + "INFO end\n")
    out = tmp_path / "out.ndjson"
    agent = agent_factory(config(tmp_path, log, "    multiline: [java, python, go, ruby]")).start()
    assert wait_for(lambda: "INFO end" in messages(out))
    assert agent.stop() == 0
    assert messages(out) == [m for n, trace in enumerate(traces) for m in (f"INFO {n}", trace)] + ["INFO end"]


def test_cri_stderr_trace_interleaved_with_stdout_and_partial_lines(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "web_shop_api-0123.log"
    frames = JAVA.split("\n")
    lines = [f"2024-01-01T00:00:00.000Z stderr F {frames[0]}"]
    for n, frame in enumerate(frames[1:]):
        lines.append(f"2024-01-01T00:00:0{n}.100Z stdout F request {n} ok")
        if n == 1:  # a frame cut by the runtime into P fragments, with stdout between them
            lines.append(f"2024-01-01T00:00:0{n}.200Z stderr P {frame[:9]}")
            lines.append(f"2024-01-01T00:00:0{n}.300Z stdout F between")
            lines.append(f"2024-01-01T00:00:0{n}.400Z stderr F {frame[9:]}")
        else:
            lines.append(f"2024-01-01T00:00:0{n}.200Z stderr F {frame}")
    lines.append("2024-01-01T00:00:09.000Z stderr F INFO recovered")
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.ndjson"
    agent = agent_factory(config(tmp_path, log, "    container_format: cri\n    multiline: java")).start()
    assert wait_for(lambda: "INFO recovered" in messages(out))
    assert agent.stop() == 0
    records = read_ndjson(out)
    stderr = [r for r in records if r["stream"] == "stderr"]
    assert [r["message"] for r in stderr] == [JAVA, "INFO recovered"]
    assert stderr[0]["@timestamp"] == "2024-01-01T00:00:00.000Z"
    stdout = [r["message"] for r in records if r["stream"] == "stdout"]
    rest = [f"request {n} ok" for n in range(2, len(frames) - 1)]
    assert stdout == ["request 0 ok", "request 1 ok", "between", *rest]


def test_flush_timeout_emits_the_last_event_while_the_file_is_idle(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_text(f"INFO first\n{PYTHON}\n")
    out = tmp_path / "out.ndjson"
    extra = "    multiline: {type: python, flush_timeout: 0.5s}"
    agent = agent_factory(config(tmp_path, log, extra)).start()
    # Held (with the checkpoint) until the file has been quiet long enough: asserted look by look on a test
    # clock in test_tail_timing.py; here the real agent emits it in the end, and commits past it.
    assert wait_for(lambda: len(messages(out)) == 2, timeout=10)
    assert messages(out) == ["INFO first", PYTHON]
    assert wait_for(lambda: committed(tmp_path) == [log.stat().st_size])
    assert agent.stop() == 0


def test_kill_9_while_an_event_is_held_delivers_it_whole_after_restart(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    head, *frames = JAVA.split("\n")
    log.write_text(f"INFO before\n{head}\n{frames[0]}\n")
    out = tmp_path / "out.ndjson"
    cfg = config(tmp_path, log, "    multiline: {type: java, flush_timeout: 60s}").replace(
        "agent: {grace_period: 10s}", "agent: {grace_period: 10s, http_listen: '127.0.0.1:0'}")
    agent = agent_factory(cfg).start()
    assert wait_for(lambda: messages(out) == ["INFO before"])
    assert wait_for(lambda: committed(tmp_path) == [len("INFO before\n")])  # held at the trace's first line
    with open(log, "a") as f:
        f.write("\n".join(frames[1:3]) + "\n")
    assert wait_for(lambda: agent.read_bytes() == log.stat().st_size)  # read by the agent, still held
    assert committed(tmp_path) == [len("INFO before\n")]
    agent.kill()
    with open(log, "a") as f:
        f.write("\n".join(frames[3:]) + "\nINFO after\n")
    agent = agent_factory(cfg).start()
    assert wait_for(lambda: "INFO after" in messages(out))
    assert agent.stop() == 0
    assert messages(out) == ["INFO before", JAVA, "INFO after"]


def test_held_events_are_flushed_at_end_of_input_with_exit_on_eof(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_text(f"INFO x\n{GO}\n")
    out = tmp_path / "out.ndjson"
    agent = agent_factory(config(tmp_path, log, "    exit_on_eof: true\n    multiline: {type: go, flush_timeout: 1h}"))
    assert agent.start().wait(60) == 0
    assert messages(out) == ["INFO x", GO]
    assert committed(tmp_path) == [log.stat().st_size]


def test_fluent_conf_format_multiline(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_text("2024-01-02 03:04:05 ERROR boom\n  at one\n  at two\n2024-01-02 03:04:06 INFO ok\n"
                   "2024-01-02 03:04:07 INFO last\n")
    out = tmp_path / "out.ndjson"
    conf = tmp_path / "fluent.conf"
    conf.write_text(f"""
<source>
  @type tail
  path {log}
  pos_file {tmp_path}/pos.txt
  read_from_head true
  tag app
  multiline_flush_interval 1s
  <parse>
    @type multiline
    format_firstline /^\\d{{4}}-/
    format1 /^(?<time>\\d{{4}}-\\d{{2}}-\\d{{2}} [\\d:]+) (?<level>\\w+) (?<message>.*)/
    time_format %Y-%m-%d %H:%M:%S
  </parse>
</source>
<match app>
  @type file
  path {out}
  <buffer>
    flush_interval 0.1s
  </buffer>
</match>
""")
    agent = agent_factory("")
    agent.config = conf
    agent.start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 3, timeout=20)
    assert agent.stop() == 0
    records = read_ndjson(out)
    assert [(r["level"], r["message"]) for r in records] == [("ERROR", "boom\n  at one\n  at two"), ("INFO", "ok"),
                                                             ("INFO", "last")]
    assert records[0]["@timestamp"] == "2024-01-02T03:04:05Z"
