"""``podlog up`` as a user runs it (a real process on loopback), and the import boundary it relies on."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tantivy")

from tests.conftest import PODLOG, wait_for


class Up:
    def __init__(self, args: list[str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([*PODLOG, "up", "--listen", "127.0.0.1:0", *args], cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def url(self) -> str:
        assert wait_for(lambda: any("UI and API: http" in x for x in self.lines), 60), "".join(self.lines)
        line = next(x for x in self.lines if "UI and API: http" in x)
        return re.search(r"(http://\S+?/)", line).group(1)  # type: ignore[union-attr]

    def get(self, path: str, **params: str) -> Any:
        with urllib.request.urlopen(self.url() + path + "?" + urllib.parse.urlencode(params), timeout=10) as r:
            return json.load(r)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code


def test_up_with_no_arguments_collects_the_demo(tmp_path: Path) -> None:
    up = Up(["--data", str(tmp_path / "data")], tmp_path)
    try:
        up.url()
        text = "".join(up.lines)
        assert "demo workload" in text and "agent: collecting" in text and "store:" in text
        window = {"from": "now-10m", "to": "now+1m"}

        def pods() -> set[str]:
            return {v["value"] for v in up.get("api/top", field="pod", **window)["values"]}

        assert wait_for(lambda: {"counter", "myapp", "api-7d9f8b6c4-x2kqp", "nginx-6c5d4f9b8-7vq4m"} <= pods(), 60)
        counter = up.get("api/search", q="container:count-log-2", size="1", **window)["hits"][0]
        assert re.fullmatch(r".* INFO \d+", counter["message"])  # the sidecar streaming 2.log
        assert up.get("api/search", q='container:count-log-1', size="0", **window)["total"] > 0
        # JSON lines became fields; nginx lines went through the nginx parser.
        assert wait_for(lambda: up.get("api/search", q="level:error", size="0", **window)["total"] > 0, 60)
        nginx = up.get("api/search", q="container:nginx", size="1", **window)["hits"][0]
        assert isinstance(nginx["fields"]["code"], int) and nginx["fields"]["method"] in ("GET", "POST")
        # The Java stack trace is one record.
        assert wait_for(lambda: up.get("api/search", q='"Caused by"', size="0", **window)["total"] > 0, 60)
        trace = up.get("api/search", q='"Caused by"', size="1", **window)["hits"][0]["message"]
        assert "IllegalStateException" in trace and "\tat com.shop" in trace
        # podlog up indexes every field: any field:value works.
        assert wait_for(lambda: up.get("api/search", q="status:[500 TO 599]", size="0", **window)["total"] > 0, 60)
        stats = up.get("api/stats")
        assert stats["docs"] > 0 and stats["bytes"] > 0
        # A second `podlog up` on the same data cannot write the store: it says so and exits 1.
        second = subprocess.run([*PODLOG, "up", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data")],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and "the agent stopped" in second.stderr and "lock" in second.stderr.lower()
    finally:
        assert up.stop() == 0
    assert "Traceback" not in "".join(up.lines)


def test_up_with_path_collects_those_files(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text('{"msg": "hello from my file", "level": "warn"}\nplain second line\n')
    up = Up(["--data", str(tmp_path / "data"), "--path", str(logs / "*.log")], tmp_path)
    try:
        assert wait_for(lambda: up.get("api/search", q="", **{"from": "now-5m"})["total"] == 2, 60)
        hit = up.get("api/search", q="level:warn", **{"from": "now-5m"})["hits"][0]
        assert hit["message"] == "hello from my file"
    finally:
        assert up.stop() == 0


def test_up_with_a_fluentd_config_runs_its_sources_into_the_store(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "1.log").write_text("0: Tue Dec  1 03:00:00 UTC 2026\n1: Tue Dec  1 03:00:01 UTC 2026\n")
    conf = tmp_path / "fluent.conf"
    conf.write_text(f"""<source>
  @type tail
  path {logs}/*.log
  pos_file {tmp_path}/counter.pos
  read_from_head true
  tag counter
  <parse>
    @type none
  </parse>
</source>
<match counter>
  @type elasticsearch
  host elasticsearch.invalid
  port 9200
</match>
""")
    up = Up(["--data", str(tmp_path / "data"), "-c", str(conf)], tmp_path)
    try:
        assert wait_for(lambda: up.get("api/search", q="", **{"from": "now-5m"})["total"] == 2, 60)
        assert up.get("api/search", q='"1: Tue"', **{"from": "now-5m"})["hits"][0]["tag"] == "counter"
        assert "replaced by the store" in "".join(up.lines)
    finally:
        assert up.stop() == 0


def test_agent_and_sidecar_do_not_import_the_store_stack() -> None:
    code = ("import sys, podlog.cli, podlog.engine, podlog.stream, podlog.outputs.stdout, podlog.inputs.tail.input;"
            "bad = [m for m in ('tantivy', 'starlette', 'uvicorn') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
