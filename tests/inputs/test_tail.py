"""The tail input end to end: real files, a real `podlog agent` process, a real NDJSON output."""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.conftest import read_ndjson, wait_for
from tests.inputs.harness import copytruncate


def config(tmp: Path, paths: str, extra: str = "", out: str = "out.ndjson", grace: str = "10s") -> str:
    return f"""
agent: {{grace_period: {grace}}}
sources:
  - type: tail
    path: [{paths}]
    pos_file: {tmp}/pos.json
    read_from_head: true
    stat_interval: 0.1s
    checkpoint_interval: 0.1s
    rotate_wait: 1s
    tag: app
{extra}
outputs:
  - type: file
    path: {tmp}/{out}
    buffer: {{flush_interval: 0.05s}}
"""


def all_read(tmp: Path, pattern: str) -> bool:
    """Every file matching ``pattern`` in ``tmp`` read to its end and acknowledged: its saved position is its
    size. Then nothing is left for the agent to emit (a duplicate now would be a bug re-reading a file)."""
    try:
        files = orjson.loads((tmp / "pos.json").read_bytes())["files"]
    except (OSError, ValueError):
        return False
    for path in tmp.glob(pattern):
        st = path.stat()
        entry = files.get(f"{st.st_dev}:{st.st_ino}")
        if entry is None or entry["offset"] != st.st_size:
            return False
    return True


def numbers(records: list[dict]) -> Counter[int]:
    return Counter(int(r["message"].split()[1]) for r in records if r.get("message", "").startswith("line "))


class Writer(threading.Thread):
    """Writes 'line N' lines fast, rotating the file the way logrotate does."""

    def __init__(self, path: Path, total: int, rotate_every: int, modes: list[str],
                 caught_up: callable | None = None) -> None:  # type: ignore[valid-type]
        super().__init__(daemon=True)
        self.path, self.total, self.rotate_every, self.modes = path, total, rotate_every, modes
        self.caught_up = caught_up
        self.rotations = Counter[str]()

    def run(self) -> None:
        self.f = open(self.path, "ab")  # noqa: SIM115
        try:
            self._write()
        finally:  # a failed caught_up() must not leak the file into the next test's warnings
            self.f.close()

    def _write(self) -> None:
        f = self.f
        for i in range(self.total):
            f.write(b"line %d %s\n" % (i, b"x" * (i % 50)))
            if i % 100 == 99:
                f.flush()
                time.sleep(0.002)  # ~50k lines/s: fast, and a rotation every ~0.15 s
            if i and i % self.rotate_every == 0:
                f.flush()
                mode = self.modes[(i // self.rotate_every) % len(self.modes)]
                self.rotations[mode] += 1
                if mode == "rename":
                    f.close()
                    os.replace(self.path, f"{self.path}.{i}")
                    f = self.f = open(self.path, "ab")  # noqa: SIM115
                else:
                    # logrotate copytruncate runs when the agent has long caught up; the copy is not followed
                    assert self.caught_up is not None
                    self.caught_up(i + 1)
                    shutil.copyfile(self.path, self.path.with_name(f"copy.{i}"))
                    f.truncate(0)
                    f.seek(0)


def test_rotation_while_writing_fast_every_line_exactly_once(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.touch()
    out = tmp_path / "out.ndjson"
    # renamed files match the glob too: one renamed twice between two looks is still found.
    # copytruncate copies must not match it (they would be new files with old content).
    agent = agent_factory(config(tmp_path, f"{log}*")).start()
    total = 60_000

    def caught_up(n: int) -> None:
        assert wait_for(lambda: len(read_ndjson(out)) >= n, timeout=60), "agent did not catch up"

    writer = Writer(log, total, rotate_every=7_000, modes=["rename", "copytruncate", "rename", "rename"],
                    caught_up=caught_up)
    writer.start()
    writer.join(120)
    assert wait_for(lambda: len(read_ndjson(out)) >= total, timeout=60)
    assert wait_for(lambda: all_read(tmp_path, "app.log*"))
    assert agent.stop() == 0
    seen = numbers(read_ndjson(out))
    assert writer.rotations["rename"] >= 4 and writer.rotations["copytruncate"] >= 2
    assert set(seen) == set(range(total)), f"missing: {sorted(set(range(total)) - set(seen))[:10]}"
    assert max(seen.values()) == 1, f"duplicates: {[n for n, c in seen.items() if c > 1][:10]}"


def test_kill_9_and_restart_loses_nothing(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    out = tmp_path / "out.ndjson"
    cfg = config(tmp_path, str(log))
    total, rate = 30_000, 5_000  # lines/s
    stop = threading.Event()

    def write() -> None:
        with open(log, "ab") as f:
            for i in range(total):
                f.write(b"line %d\n" % i)
                if i % 250 == 249:
                    f.flush()
                    time.sleep(250 / rate)
        stop.set()

    threading.Thread(target=write, daemon=True).start()
    rng = random.Random(7)
    kills = 0
    agent = agent_factory(cfg).start()
    while not stop.is_set():
        time.sleep(rng.uniform(0.3, 1.2))
        agent.kill()
        kills += 1
        agent = agent_factory(cfg).start()
    assert wait_for(lambda: len(numbers(read_ndjson(out))) >= total, timeout=60)
    assert wait_for(lambda: all_read(tmp_path, "app.log"))
    assert agent.stop() == 0
    seen = numbers(read_ndjson(out))
    assert set(seen) == set(range(total))
    dups = sum(c - 1 for c in seen.values())
    # Duplicates only from what was written out but not yet checkpointed: at most ~a second of lines per kill.
    assert dups <= kills * rate, (dups, kills)


def test_sigterm_flushes_and_checkpoints_so_a_restart_sends_nothing_twice(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(5000)))
    out = tmp_path / "out.ndjson"
    cfg = config(tmp_path, str(log))
    agent = agent_factory(cfg).start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 5000)
    assert agent.stop() == 0
    pos = orjson.loads((tmp_path / "pos.json").read_bytes())
    assert [e["offset"] for e in pos["files"].values()] == [log.stat().st_size]
    with open(log, "ab") as f:
        f.write(b"".join(b"line %d\n" % i for i in range(5000, 6000)))
    agent = agent_factory(cfg).start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 6000)
    assert wait_for(lambda: all_read(tmp_path, "app.log"))
    assert agent.stop() == 0
    seen = numbers(read_ndjson(out))
    assert set(seen) == set(range(6000)) and max(seen.values()) == 1


def test_corrupt_or_truncated_checkpoint_warns_and_restarts_safely(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(100)))
    out = tmp_path / "out.ndjson"
    for bad in (b'{"version": 1, "files": {"1:2": {"path": "x", "off', b"\x00\xff garbage \x01", b'{"files": 3}'):
        (tmp_path / "pos.json").write_bytes(bad)
        if out.exists():
            out.unlink()
        # read_from_head false: with a corrupt pos_file podlog still reads from the head (duplicates, not loss)
        agent = agent_factory(config(tmp_path, str(log)).replace("read_from_head: true", "read_from_head: false"))
        agent.start()
        assert wait_for(lambda: len(read_ndjson(out)) >= 100)
        assert agent.stop() == 0
        assert set(numbers(read_ndjson(out))) == set(range(100))
        text = agent.log.read_text()
        assert "is corrupt" in text and "read from the head" in text
        assert list(tmp_path.glob("pos.json.corrupt-*"))
        assert orjson.loads((tmp_path / "pos.json").read_bytes())["version"] == 1


def test_inode_reuse_is_not_mistaken_for_the_known_file(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d old\n" % i for i in range(50)))
    out = tmp_path / "out.ndjson"
    cfg = config(tmp_path, str(log))
    agent = agent_factory(cfg).start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 50)
    assert agent.stop() == 0
    # Same path, same size or larger, different content: a checkpoint by inode alone would skip these.
    content = b"".join(b"line %d new\n" % i for i in range(50, 120))
    tmp = tmp_path / "new.tmp"
    tmp.write_bytes(content)
    st = log.stat()
    os.replace(tmp, log)
    if log.stat().st_ino != st.st_ino:  # simulate reuse: rewrite in place keeps the inode
        with open(log, "r+b") as f:
            f.write(content)
    agent = agent_factory(cfg).start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 120)
    assert agent.stop() == 0
    assert set(numbers(read_ndjson(out))) == set(range(120))


def test_ten_megabyte_line_split_and_marked(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "big.log"
    letters = bytes.maketrans(bytes(range(256)), bytes(b"abcdefghij"[i % 10] for i in range(256)))
    big = random.Random(1).randbytes(10 * 1024 * 1024).translate(letters)  # no newline, no repetition
    log.write_bytes(b"line 0\n" + big + b"\nline 1\n")
    out = tmp_path / "out.ndjson"
    agent = agent_factory(config(tmp_path, str(log), extra="    max_line_size: 1MiB")).start()
    assert wait_for(lambda: numbers(read_ndjson(out)).get(1) == 1, timeout=60)
    assert agent.stop() == 0
    records = read_ndjson(out)
    pieces = [r for r in records if "podlog" in r]
    assert [p["podlog"]["split"] for p in pieces] == list(range(10))
    assert "".join(p["message"] for p in pieces).encode() == big
    assert [r["message"] for r in records if "podlog" not in r] == ["line 0", "line 1"]


def test_long_line_truncate_mode(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"line 0\n" + b"y" * 300_000 + b"\nline 1\n")
    out = tmp_path / "out.ndjson"
    extra = "    max_line_size: 64KiB\n    max_line_action: truncate"
    agent = agent_factory(config(tmp_path, str(log), extra=extra)).start()
    assert wait_for(lambda: numbers(read_ndjson(out)).get(1) == 1, timeout=30)
    assert agent.stop() == 0
    records = read_ndjson(out)
    assert [r["message"] for r in records if "podlog" not in r] == ["line 0", "line 1"]
    cut = [r for r in records if "podlog" in r]
    assert len(cut) == 1 and cut[0]["podlog"] == {"truncated": True} and len(cut[0]["message"]) == 64 * 1024


def test_invalid_utf8_and_last_line_without_newline(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0 caf\xe9\nline 1 no newline yet")
    out = tmp_path / "out.ndjson"
    extra = "    partial_line_timeout: 0.3s"
    agent = agent_factory(config(tmp_path, str(log), extra=extra)).start()
    # the unfinished line is held until the timeout (asserted look by look in test_tail_timing.py), then sent
    assert wait_for(lambda: len(read_ndjson(out)) >= 2, timeout=10)
    assert agent.stop() == 0
    first, second = read_ndjson(out)
    assert first["message"] == "line 0 caf\ufffd" and first["podlog"] == {"invalid_utf8": True}
    assert second["message"] == "line 1 no newline yet"


def test_cri_files_with_partials_across_reads_and_kubernetes_metadata(tmp_path: Path, agent_factory) -> None:
    d = tmp_path / "containers"
    d.mkdir()
    name = "web-7d4b9c_shop_nginx-" + "a" * 64 + ".log"
    log = d / name
    big = "z" * 70_000  # a fragment longer than one 64 KiB read
    log.write_text(
        f"2024-01-01T00:00:00.1Z stdout P {big}\n"
        "2024-01-01T00:00:00.2Z stderr F an error\n"
        "2024-01-01T00:00:00.3Z stdout F  end\n"
    )
    out = tmp_path / "out.ndjson"
    agent = agent_factory(config(tmp_path, f"{d}/*.log", extra="    parser: json")).start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 2)
    assert agent.stop() == 0
    err, joined = read_ndjson(out)
    assert err["message"] == "an error" and err["stream"] == "stderr"
    assert joined["message"] == big + " end"
    assert joined["kubernetes"] == {"pod_name": "web-7d4b9c", "namespace_name": "shop", "container_name": "nginx",
                                    "container_id": "a" * 64}


def test_bad_config_names_file_line_and_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("sources:\n  - type: tail\n    path: [/x]\n    rotate_wait: soon\noutputs: []\n")
    r = subprocess.run([sys.executable, "-m", "podlog", "agent", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{cfg}:4: sources[0].rotate_wait: expected a duration" in r.stderr
    cfg.write_text("sources:\n  - type: tail\n    path: [/x]\n    red_from_head: true\n")
    r = subprocess.run([sys.executable, "-m", "podlog", "check", "-c", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2 and f"{cfg}:4: sources[0].red_from_head: unknown option (did you mean" in r.stderr


def test_sigterm_exits_within_grace_even_with_a_dead_output(tmp_path: Path, agent_factory) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0\n")
    blocked = tmp_path / "ro"
    blocked.mkdir()
    target = blocked / "file-not-dir"
    target.write_text("")
    # the output path is below a regular file: every write fails and is retried
    cfg = config(tmp_path, str(log), out="ro/file-not-dir/out.ndjson", grace="2s")
    agent = agent_factory(cfg).start()
    assert wait_for(lambda: "; retry 1 in" in agent.log.read_text())  # up, the line read, its write failed
    start = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(15) == 0
    assert time.monotonic() - start < 8
    pos = orjson.loads((tmp_path / "pos.json").read_bytes())
    assert [e["offset"] for e in pos["files"].values()] == [0]  # nothing acknowledged, nothing committed


def test_positions_of_rotated_away_files_are_forgotten(tmp_path: Path, agent_factory) -> None:
    """The pos_file must not grow with every rotation: once no glob matches a file, its position goes."""
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0\n")
    out = tmp_path / "out.ndjson"
    # kept 2 x refresh_interval + rotate_wait after a rescan misses it: short here (test_tail_timing.py has the timing)
    text = config(tmp_path, str(log), extra="    refresh_interval: 0.2s")
    text = text.replace("rotate_wait: 1s", "rotate_wait: 0.3s")
    agent = agent_factory(text).start()
    assert wait_for(lambda: 0 in numbers(read_ndjson(out)))
    for i in range(1, 4):  # rotate away (no longer matched) three times
        os.rename(log, tmp_path / f"app.{i}.old")
        log.write_bytes(b"line %d\n" % i)
        assert wait_for(lambda i=i: i in numbers(read_ndjson(out)))

    def keys() -> set[str]:
        try:
            return set(orjson.loads((tmp_path / "pos.json").read_bytes())["files"])
        except (OSError, orjson.JSONDecodeError):
            return set()

    st = log.stat()
    assert wait_for(lambda: keys() == {f"{st.st_dev}:{st.st_ino}"}, timeout=20), keys()
    assert agent.stop() == 0
    assert sorted(numbers(read_ndjson(out))) == [0, 1, 2, 3]


def test_copytruncate_copies_matching_the_glob_are_not_read_twice(tmp_path: Path, agent_factory) -> None:
    """logrotate copytruncate with a glob that matches the copies (app.log*): the copy is recognised by its
    first bytes and the bytes before the offset the original was read to, and read only past that offset.
    So lines written after the agent's last read and before the truncation (only in the copy) arrive once."""
    log = tmp_path / "app.log"
    with open(log, "ab") as f:
        f.write(b"".join(b"line %d %s\n" % (i, b"x" * (i % 40)) for i in range(200)))
    out = tmp_path / "out.ndjson"
    # polling every 2 s: the last lines are written, copied and truncated between two looks
    text = config(tmp_path, f"{log}*", extra="    inotify: false\n    refresh_interval: 0.5s")
    agent = agent_factory(text.replace("stat_interval: 0.1s", "stat_interval: 2s")).start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 200)
    assert wait_for(lambda: all_read(tmp_path, "app.log*"))
    copytruncate(log, tmp_path / "app.log.1")
    assert wait_for(lambda: len(read_ndjson(out)) >= 300, timeout=20)
    assert wait_for(lambda: all_read(tmp_path, "app.log*"))
    assert agent.stop() == 0
    seen = numbers(read_ndjson(out))
    assert set(seen) == set(range(300)) and max(seen.values()) == 1, sorted(n for n, c in seen.items() if c > 1)[:5]
    assert "is a copy of" in (tmp_path / "agent.log").read_text()


def test_a_new_file_with_the_same_first_bytes_is_not_taken_for_a_copy(tmp_path: Path, agent_factory) -> None:
    banner = b"=== service starting, version 1.2.3, build abcdef ===\n" * 6  # > 256 bytes, shared by both
    first = tmp_path / "a.log"
    first.write_bytes(banner + b"".join(b"line %d a\n" % i for i in range(100)))
    out = tmp_path / "out.ndjson"
    agent = agent_factory(config(tmp_path, f"{tmp_path}/*.log", extra="    refresh_interval: 0.5s")).start()
    assert wait_for(lambda: len([r for r in read_ndjson(out) if "line" in r.get("message", "")]) >= 100)
    (tmp_path / "b.log").write_bytes(banner + b"".join(b"line %d b\n" % i for i in range(100, 150)))
    assert wait_for(lambda: 149 in numbers(read_ndjson(out)), timeout=20)
    assert agent.stop() == 0
    assert set(numbers(read_ndjson(out))) == set(range(150))
    assert sum(1 for r in read_ndjson(out) if r.get("message", "").startswith("===")) == 12


@pytest.mark.parametrize("inotify", [True, False])
def test_a_path_recreated_after_its_file_left_is_followed_at_once(tmp_path: Path, agent_factory,
                                                                   inotify: bool) -> None:
    """Rename away (to a name the glob does not match), then create: the old file is still draining under
    that path when the new one appears; the new one must not wait for refresh_interval (60 s here)."""
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d old\n" % i for i in range(50)))
    out = tmp_path / "out.ndjson"
    text = config(tmp_path, str(log), extra=f"    refresh_interval: 60s\n    inotify: {str(inotify).lower()}")
    agent = agent_factory(text.replace("rotate_wait: 1s", "rotate_wait: 5s")).start()
    assert wait_for(lambda: len(read_ndjson(out)) >= 50)
    os.rename(log, tmp_path / "app.old")
    assert wait_for(lambda: "removed: finishing the old file" in (tmp_path / "agent.log").read_text(), 10)
    log.write_bytes(b"".join(b"line %d new\n" % i for i in range(50, 80)))
    assert wait_for(lambda: len(read_ndjson(out)) >= 80, timeout=8), "the new file waited for the rescan"
    assert agent.stop() == 0
    assert sorted(numbers(read_ndjson(out))) == list(range(80))
