"""`podlog stream`: the streaming sidecar, as a real process on real files."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

from podlog.stream import _Stream
from tests.conftest import wait_for
from tests.inputs.harness import FakeClock


def test_stream_follows_rotation_and_truncation_lines_unchanged(tmp_path: Path) -> None:
    log = tmp_path / "1.log"
    log.write_bytes(b"0: first\n")
    out = tmp_path / "stdout"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "podlog", "stream", "--from-head", "--poll", "0.1", str(log)],
                                stdout=sink)
        try:
            assert wait_for(lambda: out.read_bytes() == b"0: first\n", timeout=15)
            with open(log, "ab") as f:  # a line in two writes: read whole or in two pieces (see below)
                f.write(b"1: \xff raw bytes kept\n2: before rotation")
            with open(log, "ab") as f:
                f.write(b" ends here\n")
            os.replace(log, tmp_path / "1.log.1")  # rename + create, as logrotate does
            log.write_bytes(b"3: new file\n")
            assert wait_for(lambda: out.read_bytes().endswith(b"3: new file\n"), timeout=15)
            with open(log, "r+b") as f:  # copytruncate; what follows is shorter than what was read, so the
                f.truncate(0)             # truncation shows whenever the sidecar looks
            log.write_bytes(b"4: after\n")
            assert wait_for(lambda: out.read_bytes().endswith(b"4: after\n"), timeout=15)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
    assert out.read_bytes() == (b"0: first\n1: \xff raw bytes kept\n2: before rotation ends here\n3: new file\n"
                                b"4: after\n")


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


def test_stream_step_by_step_on_a_test_clock(tmp_path: Path) -> None:
    """The sidecar's loop body, one look at a time: a line split across two looks is written once whole, a
    rotated file is finished (late writes included) for rotate_wait and no longer, a truncation starts over."""
    log = tmp_path / "1.log"
    log.write_bytes(b"0: first\n1: half")
    out = io.BytesIO()
    s = _Stream(str(log), b"", from_head=True)
    s.clock = clock = FakeClock()
    s.open(first=True)
    s.pump(out, rotate_wait=5)
    assert out.getvalue() == b"0: first\n"  # the unfinished line waits for its end
    with open(log, "ab") as f:
        f.write(b" and end\n2: last of the old file\n")
    os.replace(log, tmp_path / "1.log.1")
    log.write_bytes(b"3: new\n")
    while s.pump(out, rotate_wait=5):
        pass
    assert out.getvalue() == b"0: first\n1: half and end\n2: last of the old file\n3: new\n"
    clock.advance(4.9)
    with open(tmp_path / "1.log.1", "ab") as f:  # the old file is still read for rotate_wait
        f.write(b"2b: late\n")
    s.pump(out, rotate_wait=5)
    assert out.getvalue().endswith(b"3: new\n2b: late\n")
    assert len(s.old) == 1
    clock.advance(0.1)
    s.pump(out, rotate_wait=5)
    assert s.old == []  # closed: a write now is not read
    with open(tmp_path / "1.log.1", "ab") as f:
        f.write(b"2c: too late\n")
    with open(log, "r+b") as f:  # copytruncate seen at a look, then a longer line than was read
        f.truncate(0)
    s.pump(out, rotate_wait=5)
    log.write_bytes(b"4: after truncation\n")
    s.pump(out, rotate_wait=5)
    assert out.getvalue() == (b"0: first\n1: half and end\n2: last of the old file\n3: new\n2b: late\n"
                              b"4: after truncation\n")


def test_the_sidecar_loads_no_agent_machinery():
    """`podlog stream` runs beside every pod: it must not import the codecs, parsers or config of the agent.

    A fresh interpreter, so modules other tests loaded do not count."""
    code = ("import sys, podlog.cli, podlog.stream\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('podlog'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert "podlog.stream" in loaded
    heavy = [m for m in loaded if m.startswith(("podlog.codecs", "podlog.parsers", "podlog.config", "podlog.buffer",
                                                "podlog.inputs.tail.input", "podlog.engine"))]
    assert heavy == []
