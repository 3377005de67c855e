"""`podlog stream`: the streaming sidecar, as a real process on real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import wait_for


def test_stream_follows_rotation_and_truncation_lines_unchanged(tmp_path: Path) -> None:
    log = tmp_path / "1.log"
    log.write_bytes(b"0: first\n")
    out = tmp_path / "stdout"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "podlog", "stream", "--from-head", "--poll", "0.1", str(log)],
                                stdout=sink)
        try:
            assert wait_for(lambda: out.read_bytes() == b"0: first\n", timeout=15)
            with open(log, "ab") as f:
                f.write(b"1: \xff raw bytes kept\n2: before rotation")
            time.sleep(0.3)
            with open(log, "ab") as f:
                f.write(b" ends here\n")
            os.replace(log, tmp_path / "1.log.1")  # rename + create, as logrotate does
            log.write_bytes(b"3: new file\n")
            assert wait_for(lambda: out.read_bytes().endswith(b"3: new file\n"), timeout=15)
            with open(log, "r+b") as f:  # copytruncate
                f.truncate(0)
            time.sleep(0.5)
            log.write_bytes(b"4: after truncation\n")
            assert wait_for(lambda: out.read_bytes().endswith(b"4: after truncation\n"), timeout=15)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
    assert out.read_bytes() == (b"0: first\n1: \xff raw bytes kept\n2: before rotation ends here\n3: new file\n"
                                b"4: after truncation\n")


def test_stream_prefix_and_several_files(tmp_path: Path) -> None:
    a, b = tmp_path / "1.log", tmp_path / "2.log"
    a.write_bytes(b"a1\n")
    b.write_bytes(b"b1\n")
    proc = subprocess.Popen([sys.executable, "-m", "podlog", "stream", "--from-head", "--prefix", str(a), str(b)],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    first = [proc.stdout.readline(), proc.stdout.readline()]  # waits for the child, however slow its start
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(10)
    assert proc.returncode == 0 and rest == b""
    assert sorted(first) == [f"[{a}] a1\n".encode(), f"[{b}] b1\n".encode()]
