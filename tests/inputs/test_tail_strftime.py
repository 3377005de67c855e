"""in_tail's strftime paths (``/var/log/app-%Y-%m-%d.log``): expanded at every scan, as Fluentd does.

Before, ``%Y`` stayed literal in the glob and such a path silently matched nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from podlog.inputs.tail.scan import expand_time, scan, watch_dirs
from tests.conftest import read_ndjson


def test_scan_expands_the_codes_for_the_time_given(tmp_path: Path) -> None:
    day1 = time.mktime((2024, 3, 1, 12, 0, 0, 0, 0, -1))
    day2 = day1 + 86400
    (tmp_path / "app-2024-03-01.log").write_text("a\n")
    (tmp_path / "app-2024-03-02.log").write_text("b\n")
    (tmp_path / "app-%Y.log").write_text("literal\n")
    pattern = f"{tmp_path}/app-%Y-%m-%d.log"
    assert scan([pattern], [], now=day1) == [f"{tmp_path}/app-2024-03-01.log"]
    assert scan([pattern], [], now=day2) == [f"{tmp_path}/app-2024-03-02.log"]  # the next day, the next file
    assert scan([f"{tmp_path}/app-%%Y.log"], []) == [f"{tmp_path}/app-%Y.log"]  # %% is a literal percent
    assert expand_time("/var/log/*.log") == "/var/log/*.log"
    # A dated directory is watched from its undated parent, where the next day's directory will appear.
    assert watch_dirs(["/var/log/%Y/%m/app.log", "/srv/app-%d.log"]) == {"/var/log", "/srv"}


def test_a_dated_path_is_followed_by_the_agent(tmp_path: Path) -> None:
    today = tmp_path / time.strftime("app-%Y%m%d.log")
    today.write_text("one\ntwo\n")
    (tmp_path / "app-19990101.log").write_text("old\n")
    out = tmp_path / "out.ndjson"
    conf = tmp_path / "fluent.conf"
    conf.write_text(f"""
<source>
  @type tail
  path {tmp_path}/app-%Y%m%d.log
  read_from_head true
  exit_on_eof true
  tag app
  <parse>
    @type none
  </parse>
</source>
<match **>
  @type file
  path {out}
  flush_interval 0.1s
</match>
""")
    proc = subprocess.run([sys.executable, "-m", "podlog", "agent", "-c", str(conf)], capture_output=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert [r["message"] for r in read_ndjson(out)] == ["one", "two"]
