"""A CRI/docker fragment whose stream goes quiet while the other stream goes on: emitted, not held forever.

Real `podlog agent` processes on real files (docker json-file and CRI envelopes).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.conftest import read_ndjson, wait_for
from tests.inputs.test_multiline_tail import committed, config


def _docker(stream: str, log: str) -> bytes:
    return orjson.dumps({"log": log, "stream": stream, "time": "2024-01-01T00:00:00Z"}) + b"\n"


def _run(tmp_path: Path, agent_factory, name: str, data: bytes, extra: str) -> list[dict]:
    log = tmp_path / name
    log.write_bytes(data)
    out = tmp_path / "out.ndjson"
    agent = agent_factory(config(tmp_path, log, extra + "\n    partial_line_timeout: 0.5s")).start()
    # The fragment is emitted, marked, while the file stays open and the other stream goes on...
    assert wait_for(lambda: any(r.get("podlog", {}).get("incomplete") for r in read_ndjson(out)))
    # ... and no longer holds the position: it reaches the end of the file.
    assert wait_for(lambda: committed(tmp_path) == [len(data)])
    assert agent.stop() == 0
    return read_ndjson(out)


def test_docker_fragment_on_a_quiet_stream_is_emitted_incomplete(tmp_path: Path, agent_factory) -> None:
    data = _docker("stdout", "half a line, the process died ") + b"".join(
        _docker("stderr", f"e{n}\n") for n in range(5))
    records = _run(tmp_path, agent_factory, "app.log", data, "    container_format: docker")
    assert [r["message"] for r in records if r["stream"] == "stderr"] == [f"e{n}" for n in range(5)]
    [half] = [r for r in records if r["stream"] == "stdout"]
    assert half["message"] == "half a line, the process died " and half["podlog"] == {"incomplete": True}


def test_cri_fragment_joins_its_multiline_event_when_emitted(tmp_path: Path, agent_factory) -> None:
    lines = ["2024-01-01T00:00:00Z stdout F SELECT a, \\", "2024-01-01T00:00:00Z stdout P   FROM t whe",
             *(f"2024-01-01T00:00:01Z stderr F e{n}" for n in range(3))]
    data = ("\n".join(lines) + "\n").encode()
    records = _run(tmp_path, agent_factory, "app.log", data, "    container_format: cri\n    multiline: endswith")
    [event] = [r for r in records if r["stream"] == "stdout"]
    assert event["message"] == "SELECT a, \\\n  FROM t whe" and event["podlog"] == {"incomplete": True}
    assert [r["message"] for r in records if r["stream"] == "stderr"] == ["e0", "e1", "e2"]
