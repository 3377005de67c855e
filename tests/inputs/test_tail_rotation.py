"""Rotation faster than the agent looks, restarts in the middle of rotation, Fluentd pos_files.

Real files, a real `podlog agent` process, a real NDJSON output; every line is counted.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import orjson

from tests.conftest import read_ndjson, wait_for


def yaml_config(tmp: Path, paths: str, extra: str = "") -> str:
    """stat_interval stays at its default (1 s): rotations happen between two looks."""
    return f"""
sources:
  - type: tail
    path: [{paths}]
    pos_file: {tmp}/pos.json
    read_from_head: true
    container_format: none
    rotate_wait: 1s
    tag: app
{extra}
outputs:
  - type: file
    path: {tmp}/out.ndjson
    buffer: {{flush_interval: 0.05s}}
"""


def numbers(records: list[dict]) -> Counter[str]:
    """Every 'line <id>' message, by id."""
    return Counter(r["message"].split()[1] for r in records if r.get("message", "").startswith("line "))


def complete(out: Path, expected: set[str]) -> bool:
    return set(numbers(read_ndjson(out))) >= expected


def test_files_created_and_renamed_between_two_looks_are_read(tmp_path: Path, agent_factory) -> None:
    """`echo >> app.log` then `mv app.log app.log.N` every 0.1 s, 10 times faster than stat_interval:
    every generation must be opened (the directory's create/move events) and read to its end."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_bytes(b"line start\n")
    out = tmp_path / "out.ndjson"
    agent = agent_factory(yaml_config(tmp_path, str(log))).start()
    assert wait_for(lambda: complete(out, {"start"}), timeout=30)
    expected = {"start"}
    for gen in range(15):
        for j in range(50):
            with open(log, "ab") as f:  # like the shell's >>: open, write, close
                f.write(b"line %d-%d\n" % (gen, j))
            expected.add(f"{gen}-{j}")
        time.sleep(0.1)
        os.rename(log, logs / f"app.log.{gen}")
    ok = wait_for(lambda: complete(out, expected), timeout=30)
    assert agent.stop() == 0
    seen = numbers(read_ndjson(out))
    assert ok, f"{len(expected - set(seen))} of {len(expected)} lines missing"
    assert max(seen.values()) == 1


def test_glob_not_matching_rotated_names_loses_no_file(tmp_path: Path, agent_factory) -> None:
    """Kubelet's 0.log -> 0.log.<timestamp>: the glob (app*.log) never sees rotated names, so a file born
    and renamed between two looks is found only through the directory's events; the followed one that is
    renamed away is finished from its open descriptor."""
    logs = tmp_path / "logs"
    logs.mkdir()
    out = tmp_path / "out.ndjson"
    (logs / "app-start.log").write_bytes(b"line start\n")
    agent = agent_factory(yaml_config(tmp_path, f"{logs}/app*.log")).start()
    assert wait_for(lambda: complete(out, {"start"}), timeout=30)
    writers, per_file, files = 4, 150, 20

    def write(w: int) -> None:
        path = logs / f"app{w}.log"
        for n in range(files):
            with open(path, "ab") as f:
                for j in range(per_file):
                    f.write(b"line %d-%d-%d %s\n" % (w, n, j, b"x" * 40))
                    if j % 50 == 49:
                        f.flush()
            os.rename(path, logs / f"app{w}.log.{n}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expected = {f"{w}-{n}-{j}" for w in range(writers) for n in range(files) for j in range(per_file)} | {"start"}
    ok = wait_for(lambda: complete(out, expected), timeout=30)
    assert agent.stop() == 0
    seen = numbers(read_ndjson(out))
    missing = expected - set(seen)
    unopened = {m.rsplit("-", 1)[0] for m in missing if all(f"{m.rsplit('-', 1)[0]}-{j}" in missing
                                                             for j in range(per_file))}
    assert ok, f"{len(missing)} of {len(expected)} lines missing; {len(unopened)} of {writers * files} files unread"
    assert max(seen.values()) == 1


def fluentd_config(tmp: Path, glob: str, read_from_head: bool = True) -> str:
    return f"""
<source>
  @type tail
  path {glob}
  pos_file {tmp}/app.pos
  read_from_head {str(read_from_head).lower()}
  tag app
  <parse>
    @type none
  </parse>
</source>
<match app>
  @type file
  path {tmp}/out.ndjson
  <buffer>
    flush_interval 0.1s
  </buffer>
</match>
"""


def positions(pos_file: Path) -> set[str]:
    try:
        return set(orjson.loads(pos_file.read_bytes())["files"])
    except (OSError, ValueError, KeyError):
        return set()


def start_fluentd_syntax(agent_factory, conf: Path):  # type: ignore[no-untyped-def]
    agent = agent_factory("")
    agent.config = conf
    return agent.start()


def test_files_rotated_while_the_agent_was_down_are_finished(tmp_path: Path, agent_factory) -> None:
    """A Fluentd-syntax DaemonSet config killed with SIGKILL again and again while the file is written fast;
    each time, while the agent is down, the file is renamed (to a name its glob does not match) and a new
    one started. At each start the file that left its path is found beside it by identity and read from
    its checkpoint to its end."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.touch()
    out = tmp_path / "out.ndjson"
    conf = tmp_path / "fluent.conf"
    conf.write_text(fluentd_config(tmp_path, f"{logs}/app*.log"))
    total, rate = 60_000, 10_000
    done, rotate_now, rotated = threading.Event(), threading.Event(), threading.Event()

    def write() -> None:
        f = open(log, "ab")  # noqa: SIM115
        for i in range(total):
            f.write(b"line %d %s\n" % (i, b"y" * (i % 30)))
            if i % 500 == 499:
                f.flush()
                time.sleep(500 / rate)
                if rotate_now.is_set():
                    f.close()
                    os.rename(log, logs / f"app.log.{i}")
                    f = open(log, "ab")  # noqa: SIM115
                    rotate_now.clear()
                    rotated.set()
        f.close()
        done.set()

    def seen() -> bool:
        """The agent knows the current file (its identity is checkpointed)."""
        st = log.stat()
        return done.is_set() or f"{st.st_dev}:{st.st_ino}" in positions(tmp_path / "app.pos")

    agent = start_fluentd_syntax(agent_factory, conf)
    threading.Thread(target=write, daemon=True).start()
    rng = random.Random(3)
    kills = 0
    while not done.is_set():
        assert wait_for(seen, timeout=60)
        time.sleep(rng.uniform(0.3, 0.9))  # part of it read and checkpointed, part not yet
        agent.kill()
        kills += 1
        rotated.clear()
        rotate_now.set()
        # renamed while no agent runs; the writer goes on into the new file (unless it has just finished)
        assert wait_for(lambda: rotated.is_set() or done.is_set(), timeout=10)
        agent = start_fluentd_syntax(agent_factory, conf)
    expected = {str(i) for i in range(total)}
    ok = wait_for(lambda: complete(out, expected), timeout=40)
    agent.kill()  # it may have caught up before it was all up; SIGTERM's exit code is tested elsewhere
    seen_lines = numbers(read_ndjson(out))
    assert kills >= 3
    assert ok, f"{len(expected - set(seen_lines))} of {total} lines lost over {kills} kills"


def fluentd_pos_line(path: Path, pos: int, ino: int) -> str:
    """One line exactly as Fluentd's in_tail writes it: path, position, inode ("%s\\t%016x\\t%016x\\n")."""
    return f"{path}\t{pos:016x}\t{ino:016x}\n"


def test_a_genuine_fluentd_pos_file_resumes_where_fluentd_stopped(tmp_path: Path, agent_factory) -> None:
    """Fluentd read lines 1-2 of 4 of app.log, and unwatched old.log (position ffffffffffffffff, which
    is no position). With read_from_head false lines 3-4 must come (not be skipped) and old.log is read
    from its end; with true lines 3-4 only (not the whole file again) and old.log from its head."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    lines = [b"line %d\n" % i for i in range(1, 5)]
    log.write_bytes(b"".join(lines))
    old = logs / "old.log"
    old.write_bytes(b"line old-1\nline old-2\n")
    for read_from_head, expected in ((False, ["3", "4"]), (True, ["3", "4", "old-1", "old-2"])):
        out = tmp_path / "out.ndjson"
        out.unlink(missing_ok=True)
        pos = tmp_path / "app.pos"
        pos.write_text(fluentd_pos_line(log, len(lines[0] + lines[1]), log.stat().st_ino)
                       + fluentd_pos_line(old, 0xFFFFFFFFFFFFFFFF, old.stat().st_ino))
        conf = tmp_path / "fluent.conf"
        conf.write_text(fluentd_config(tmp_path, f"{logs}/*.log", read_from_head))
        agent = start_fluentd_syntax(agent_factory, conf)
        done = wait_for(lambda expected=expected: complete(tmp_path / "out.ndjson", set(expected)), timeout=30)
        assert done, read_from_head
        assert agent.stop() == 0  # SIGTERM: flushed and checkpointed
        # each file is one read: had lines 1-2 been read again, they would be in the same batch as 3-4
        assert sorted(numbers(read_ndjson(out)).elements()) == expected, read_from_head
        saved = orjson.loads(pos.read_bytes())["files"]
        assert sorted(e["offset"] for e in saved.values()) == sorted([log.stat().st_size, old.stat().st_size])


def test_more_files_than_descriptors_are_all_read_in_turns(tmp_path: Path) -> None:
    """Under a hard fd limit below the number of matched files, the agent follows as many as fit, says so
    (a log line, podlog_input_files_waiting), rotates through the rest, and stays healthy."""
    import resource
    import subprocess
    import sys
    import urllib.request

    logs = tmp_path / "logs"
    logs.mkdir()
    files, per_file = 200, 20
    for n in range(files):
        (logs / f"c{n:03d}.log").write_bytes(b"".join(b"line %d-%d\n" % (n, j) for j in range(per_file)))
    out = tmp_path / "out.ndjson"
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(yaml_config(tmp_path, f"{logs}/*.log", "    stat_interval: 0.2s").replace(
        "sources:", "agent: {http_listen: '127.0.0.1:0'}\nsources:", 1))

    def limit_fds() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))

    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "podlog", "agent", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                                stderr=err, preexec_fn=limit_fds)
    try:
        expected = {f"{n}-{j}" for n in range(files) for j in range(per_file)}
        ok = wait_for(lambda: complete(out, expected), timeout=60)
        text = log.read_text()
        assert ok, f"{len(expected - set(numbers(read_ndjson(out))))} of {len(expected)} lines missing"
        assert "no file descriptor left for" in text
        port = int(text.split("/status on ", 1)[1].split(":", 1)[1].split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert b'podlog_input_files_waiting{input="tail.0",reason="fds"}' in r.read()
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    seen = numbers(read_ndjson(out))
    assert max(seen.values()) == 1


def _without_dac_override() -> None:
    """In the child: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so even root
    (as the tests often run) is refused a mode 000 file, as the agent's user would be."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_an_unreadable_file_is_logged_counted_and_retried_soon(tmp_path: Path) -> None:
    """A file in mode 000 is named once in the log and counted; once its mode is fixed it is read within
    seconds, not at the next rescan (refresh_interval, 60 s here)."""
    import subprocess
    import sys
    import urllib.request

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ok.log").write_bytes(b"line ok\n")
    locked = logs / "locked.log"
    locked.write_bytes(b"line locked-1\nline locked-2\n")
    locked.chmod(0)
    out = tmp_path / "out.ndjson"
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(yaml_config(tmp_path, f"{logs}/*.log", "    refresh_interval: 60s").replace(
        "sources:", "agent: {http_listen: '127.0.0.1:0'}\nsources:", 1))
    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "podlog", "agent", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                                stderr=err, preexec_fn=_without_dac_override)
    try:
        assert wait_for(lambda: complete(out, {"ok"}), timeout=30)
        assert wait_for(lambda: "cannot open" in log.read_text(), timeout=10)
        text = log.read_text()
        port = int(text.split("/status on ", 1)[1].split(":", 1)[1].split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert b'podlog_input_files_waiting{input="tail.0",reason="unreadable"} 1.0' in r.read()
        locked.chmod(0o644)
        assert wait_for(lambda: complete(out, {"locked-1", "locked-2"}), timeout=10), "waited for the rescan"
        assert log.read_text().count(f"cannot open {locked}") == 1  # retried every second, logged once
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
