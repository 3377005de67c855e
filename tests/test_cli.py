"""The command line as a new user meets it: status hints, a busy port, a closed pipe, where docs go."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from podlog.cli import _parser, main
from podlog.config.loader import load_config_text

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_status_of_an_absent_agent_says_what_to_check(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--url", f"http://127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Connection refused" in err and "http_listen" in err and "--url" in err


def test_quickstart_agent_answers_podlog_status_at_its_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    demo = ROOT / "examples" / "demo.yaml"
    config = load_config_text(demo.read_text(), str(demo))
    default_url = _parser().parse_args(["status"]).url
    assert default_url == f"http://{config.agent.http_listen}"


def _agent(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "agent.yaml"
    path.write_text(config)
    return subprocess.run([sys.executable, "-m", "podlog.cli", "agent", "-c", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_busy_http_listen_port_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "in.log").write_text("one\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _agent(tmp_path, f"""
agent: {{http_listen: "127.0.0.1:{port}", data_dir: {tmp_path}/state}}
sources: [{{type: tail, path: ["{tmp_path}/in.log"], read_from_head: true, container_format: none}}]
outputs: [{{type: file, match: "**", path: "{tmp_path}/out.ndjson"}}]
""")
    assert done.returncode == 2
    assert f"cannot serve http_listen 127.0.0.1:{port}" in done.stderr and "in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.ndjson").exists()  # nothing started


def test_check_input_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text('sources: [{type: tail, path: [/x.log], container_format: none}]\n'
                      'outputs: [{type: stdout, match: "**"}]\n')
    sample = tmp_path / "sample.log"
    sample.write_text("".join(f"line {i} " + "x" * 100 + "\n" for i in range(20_000)))  # far beyond a pipe buffer
    with subprocess.Popen([sys.executable, "-m", "podlog.cli", "check", "-c", str(config), "--input", str(sample)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline()  # the reader takes one line, then goes away (as `| head -1`)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert code == 1


def test_docs_writes_where_it_is_told_and_asks_otherwise(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["docs"]) == 2
    assert "podlog docs docs/reference" in capsys.readouterr().err
    assert not (tmp_path / "docs").exists()
    assert main(["docs", "ref"]) == 0
    assert (tmp_path / "ref" / "agent.md").exists()
