"""The tail input's timers, asserted on a clock the test moves (tests/inputs/harness.py).

What must *not* happen before a deadline (a held line, an open multiline event, a fragment, a rotated
file kept open) is checked at every look up to the deadline, then what must happen at it: no sleeping,
so a slow machine cannot make these pass without testing anything. The end-to-end versions with a real
agent are in test_tail.py, test_multiline_tail.py and test_fragments_tail.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.codecs.test_multiline import JAVA, PYTHON, PYTHON_CHAINED
from tests.inputs.harness import copytruncate, tail_harness


def source(path: Path | str, extra: str = "", stat_interval: str = "1s") -> str:
    return f"""  - type: tail
    path: [{path}]
    read_from_head: true
    stat_interval: {stat_interval}
    tag: app
{extra}"""


def test_a_last_line_without_newline_is_held_until_partial_line_timeout(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0\nline 1 no newline yet")
    with tail_harness(source(log, "    partial_line_timeout: 5s")) as h:
        h.settle()
        for _ in range(4):  # the looks at 0, 1, 2, 3 and 4 s: the line may still get its end
            assert h.messages() == ["line 0"]
            assert h.committed(log) == len(b"line 0\n")
            h.advance(1)
        assert h.messages() == ["line 0"]
        h.advance(1)  # 5 s without data
        assert h.messages() == ["line 0", "line 1 no newline yet"]
        assert h.committed(log) == log.stat().st_size


def test_a_line_ended_before_the_timeout_is_one_record(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0 no newline yet")
    with tail_harness(source(log, "    partial_line_timeout: 5s")) as h:
        h.settle()
        h.advance(4.5)
        assert h.messages() == []
        with open(log, "ab") as f:
            f.write(b", now ended\n")
        h.settle()  # inotify (or the next look) sees the write at once
        assert h.messages() == ["line 0 no newline yet, now ended"]
        h.advance(10)
        assert h.messages() == ["line 0 no newline yet, now ended"]
        assert h.committed(log) == log.stat().st_size


def test_a_multiline_event_is_emitted_after_flush_timeout_of_quiet_and_holds_the_checkpoint_till_then(
        tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(f"INFO first\n{PYTHON}\n")
    extra = "    multiline: {type: python, flush_timeout: 1.5s}"
    with tail_harness(source(log, extra, stat_interval="0.5s")) as h:
        h.settle()
        h.advance(1)
        # the traceback may go on (a chained exception): held, and the checkpoint at its first line
        assert h.messages() == ["INFO first"]
        assert h.committed(log) == len("INFO first\n")
        chained = "\n".join(PYTHON_CHAINED.split("\n")[3:])  # "During handling ...", a second traceback
        with open(log, "a") as f:
            f.write(chained + "\n")
        h.settle()
        h.advance(1)  # 2 s since the event opened, 1 s since its last line
        assert h.messages() == ["INFO first"]
        assert h.committed(log) == len("INFO first\n")
        h.advance(0.5)  # 1.5 s of quiet
        assert h.messages() == ["INFO first", f"{PYTHON}\n{chained}"]
        assert h.committed(log) == log.stat().st_size


def test_an_open_event_keeps_the_checkpoint_at_its_first_line_while_it_grows(tmp_path: Path) -> None:
    """What the kill -9 test in test_multiline_tail.py relies on: lines of an open event read, not committed."""
    log = tmp_path / "app.log"
    head, *frames = JAVA.split("\n")
    log.write_text(f"INFO before\n{head}\n{frames[0]}\n")
    with tail_harness(source(log, "    multiline: {type: java, flush_timeout: 60s}")) as h:
        h.settle()
        assert h.messages() == ["INFO before"]
        assert h.committed(log) == len("INFO before\n")
        with open(log, "a") as f:
            f.write("\n".join(frames[1:3]) + "\n")
        h.settle()
        assert h.input.read_bytes == log.stat().st_size  # read...
        h.advance(59)
        assert h.messages() == ["INFO before"]  # ...and still held, as is the checkpoint
        assert h.committed(log) == len("INFO before\n")
        with open(log, "a") as f:
            f.write("\n".join(frames[3:]) + "\nINFO after\n")
        h.settle()  # a line that continues nothing closes the event: no waiting
        assert h.messages() == ["INFO before", JAVA, "INFO after"]
        assert h.committed(log) == log.stat().st_size


def test_a_cri_fragment_whose_line_never_ends_is_emitted_incomplete_after_partial_line_timeout(
        tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    data = b"2024-01-01T00:00:00Z stdout P half a line, \n" + b"".join(
        b"2024-01-01T00:00:0%dZ stderr F e%d\n" % (n, n) for n in range(3))
    log.write_bytes(data)
    with tail_harness(source(log, "    container_format: cri\n    partial_line_timeout: 2s")) as h:
        h.settle()
        assert h.messages() == ["e0", "e1", "e2"]
        assert h.committed(log) == 0  # the fragment holds the position at its start
        h.advance(1)
        assert h.messages() == ["e0", "e1", "e2"]
        h.advance(1)
        records = h.records()
        assert [r["message"] for r in records] == ["e0", "e1", "e2", "half a line, "]
        assert records[-1]["podlog"] == {"incomplete": True}
        assert h.committed(log) == len(data)


def test_a_rotated_file_is_read_for_rotate_wait_then_closed(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0\n")
    with tail_harness(source(log, "    rotate_wait: 5s")) as h:
        h.settle()
        old = tmp_path / "app.log.1"
        os.rename(log, old)
        log.write_bytes(b"line 1\n")
        h.settle()  # seen at once (inotify)
        assert h.messages() == ["line 0", "line 1"]
        [draining] = h.input.draining
        h.advance(4)
        with open(old, "ab") as f:  # a late write by a process that still has the old file open
            f.write(b"line 0 late\n")
        h.advance(0.5)
        assert h.messages() == ["line 0", "line 1", "line 0 late"]
        assert draining.f.fd >= 0
        h.advance(0.5)  # rotate_wait over, read to its end: closed and forgotten
        assert h.input.draining == []
        assert draining.f.fd < 0
        with open(old, "ab") as f:
            f.write(b"line 0 too late\n")
        h.advance(10)
        assert "line 0 too late" not in h.messages()


def test_a_copytruncate_between_two_looks_is_read_once(tmp_path: Path) -> None:
    """Polling every 2 s: the agent's last look saw 200 lines; 30 more are written, the file is copied (to a
    name the glob matches) and truncated, and 70 new lines are written, all before the next look."""
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"line %d %s\n" % (i, b"x" * (i % 40)) for i in range(200)))
    text = source(f"{log}*", "    inotify: false\n    refresh_interval: 2s", stat_interval="2s")
    with tail_harness(text) as h:
        h.settle()
        assert len(h.messages()) == 200
        copytruncate(log, tmp_path / "app.log.1")
        h.advance(1.9)
        assert len(h.messages()) == 200  # polling: nothing is seen before the next look
        h.advance(0.1)
        numbers = [int(m.split()[1]) for m in h.messages()]
        assert sorted(numbers) == list(range(300))


def test_a_path_recreated_after_its_file_left_is_followed_without_waiting_for_the_rescan(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0 old\n")
    for inotify in (True, False):
        with tail_harness(source(log, f"    refresh_interval: 60s\n    inotify: {str(inotify).lower()}")) as h:
            h.settle()
            os.rename(log, tmp_path / "app.old")
            h.advance(1)  # the next look sees it gone
            log.write_bytes(b"line 1 new\n")
            h.advance(1)  # and the look after finds its successor: not the rescan 60 s later
            assert h.messages() == ["line 0 old", "line 1 new"], inotify
        os.rename(tmp_path / "app.old", log)


def test_the_position_of_a_file_rotated_away_is_kept_for_a_while_then_forgotten(tmp_path: Path) -> None:
    """Kept 2 x refresh_interval + rotate_wait after a rescan first misses it (a rename the glob matches
    again still resumes), then forgotten, so the pos_file does not grow with every rotation."""
    log = tmp_path / "app.log"
    log.write_bytes(b"line 0\n")
    with tail_harness(source(log, "    refresh_interval: 10s\n    rotate_wait: 5s")) as h:
        h.settle()
        st = log.stat()
        old_key = f"{st.st_dev}:{st.st_ino}"
        os.rename(log, tmp_path / "app.1.old")
        log.write_bytes(b"line 1\n")
        h.settle()
        assert h.messages() == ["line 0", "line 1"]
        present = []
        for second in range(1, 61):
            h.advance(1)
            present.append((second, old_key in h.input.checkpoints.entries))
        kept = [s for s, there in present if there]
        # closed after rotate_wait (5 s), missed by a rescan then, kept 25 s more at least; rescans every 10 s
        assert kept == list(range(1, len(kept) + 1)), present  # kept, then gone for good
        assert 5 + 25 <= len(kept) < 5 + 10 + 25 + 10, present
        assert len(h.input.checkpoints.entries) == 1


def test_files_created_and_renamed_away_between_two_looks_are_read_once(tmp_path: Path) -> None:
    """`echo >> app.log; mv app.log app.log.N` three times with no look in between: the names inotify
    reported lead to every file, though no glob matches where they went."""
    log = tmp_path / "app.log"
    log.write_bytes(b"line start\n")
    with tail_harness(source(log)) as h:
        h.settle()
        for gen in range(3):
            with open(log, "ab") as f:
                f.write(b"".join(b"line %d-%d\n" % (gen, j) for j in range(5)))
            os.rename(log, tmp_path / f"app.log.{gen}")
        h.settle()
        assert sorted(h.messages()) == sorted(["line start", *(f"line {g}-{j}" for g in range(3) for j in range(5))])
