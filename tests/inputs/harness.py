"""The tail input run in the test process, one loop turn at a time, on a clock the test moves.

Timing behaviour ("held until partial_line_timeout", "emitted after flush_timeout of quiet", "a change
made between two looks") cannot be asserted by sleeping: on a slow machine a sleep proves nothing, on a
fast one it wastes time. Here nothing happens unless the test says so:

* ``TailInput.clock`` (and the multiline assemblers' clock, which the input hands down) reads a
  ``FakeClock``: time moves only by ``advance()``.
* The loop's one blocking call, ``Watcher.wait``, is where it parks: ``step()`` lets it run exactly one
  turn (real inotify events are collected without blocking, so writes made by the test before a step are
  seen in that step). The loop runs in its own thread, as in the agent, but never at the same time as the
  test: the two hand over at ``wait``.
* Emitted batches are collected; they are acknowledged at once (a fast output) unless ``hold`` is set.

The harness builds the input from a YAML source section, as the agent does, and starts its loop the way
``TailInput.run`` does, with the stepping watcher in place of the real one.
"""

from __future__ import annotations

import os
import select
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from podlog.batch import Batch
from podlog.config.loader import load_config_text
from podlog.engine import build_plugin
from podlog.inputs.tail.input import TailInput
from podlog.inputs.tail.watch import Activity, Watcher

__all__ = ["FakeClock", "TailHarness", "tail_harness"]

PARK_TIMEOUT = 30.0  # a turn is milliseconds; this only bounds a hung loop so the test fails instead


class FakeClock:
    """A monotonic clock that moves only when told; starts far from 0 like a real monotonic clock."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock does not go back"
        self.now += seconds


class _SteppedWatcher:
    """The real watcher (inotify or polling) behind a gate: each ``wait`` parks until the test steps."""

    def __init__(self, real: Watcher) -> None:
        self.real = real
        self.timeouts: list[float] = []  # what the loop asked to wait for, one per turn
        self._go = threading.Semaphore(0)
        self.parked = threading.Event()
        self.free = False  # closing: waits return at once

    @property
    def available(self) -> bool:
        return self.real.available

    def watch_file(self, realpath: str) -> None:
        self.real.watch_file(realpath)

    def unwatch_file(self, realpath: str) -> None:
        self.real.unwatch_file(realpath)

    def watch_dir(self, directory: str) -> None:
        self.real.watch_dir(directory)

    def close(self) -> None:
        self.real.close()

    def wait(self, timeout: float) -> Activity:
        self.timeouts.append(timeout)
        if not self.free:
            self.parked.set()
            self._go.acquire()
        # Events already queued (the test's writes before this step), without blocking. Polling mode
        # has nothing to collect: every turn looks at every file then.
        return self.real.wait(0) if self.real.available else Activity()

    def release(self) -> None:
        self.parked.clear()
        self._go.release()

    def pending(self) -> bool:
        """Events queued that would end a real wait at once."""
        ino = self.real._ino
        return ino is not None and bool(select.select([ino], [], [], 0)[0])


class TailHarness:
    """A ``TailInput`` driven turn by turn. Use ``tail_harness()`` (a context manager) to make one."""

    def __init__(self, source_yaml: str, hold: bool = False) -> None:
        config = load_config_text(f"sources:\n{source_yaml}\noutputs:\n  - type: \"null\"\n", "harness.yaml")
        plugin = build_plugin(config.sources[0])
        assert isinstance(plugin, TailInput), plugin
        self.input = plugin
        self.clock = FakeClock()
        plugin.clock = self.clock
        self.hold = hold
        self.batches: list[Batch] = []
        self._held: list[Batch] = []
        self._watcher = _SteppedWatcher(Watcher(plugin.options.inotify))
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # --- running -----------------------------------------------------------------------------

    def start(self) -> TailHarness:
        """Start the loop as ``TailInput.run`` does; returns once it parks after its first turn's setup
        (globs scanned, files opened, positions saved)."""
        inp = self.input
        inp._emit = self._collect
        inp._watcher = self._watcher  # type: ignore[assignment]
        self._thread = threading.Thread(target=self._run, name="tail-harness", daemon=True)
        self._thread.start()
        self._park()
        return self

    def _run(self) -> None:
        try:
            self.input._loop()
        except BaseException as exc:  # handed to the test thread at the next step
            self._error = exc
        finally:
            self._watcher.parked.set()

    def _park(self) -> None:
        assert self._watcher.parked.wait(PARK_TIMEOUT), "the tail loop did not come back to wait"
        if self._error is not None:
            raise AssertionError("the tail loop raised") from self._error

    def _collect(self, batch: Batch) -> None:
        self.batches.append(batch)
        if self.hold:
            self._held.append(batch)
        else:
            batch.ack.release()

    @property
    def finished(self) -> bool:
        """The loop returned (exit_on_eof reached, or stopped)."""
        return self._thread is not None and not self._thread.is_alive()

    def step(self) -> None:
        """One turn of the loop at the current fake time."""
        assert not self.finished, "the tail loop has ended"
        self._watcher.release()
        self._park()

    def settle(self, max_turns: int = 1000) -> None:
        """Turns until the loop has nothing left to do now: it asks to wait, and no event would wake it."""
        for _ in range(max_turns):
            self.step()
            if self.finished or (self._watcher.timeouts[-1] > 0 and not self._watcher.pending()):
                return
        raise AssertionError(f"the tail loop still busy after {max_turns} turns")

    def advance(self, seconds: float) -> None:
        """Move the clock, then let the loop do what is due (and read what is new)."""
        self.clock.advance(seconds)
        self.settle()

    def close(self) -> None:
        self._watcher.free = True
        self._watcher.release()
        self.input.stop()
        for batch in self._held:
            batch.ack.release()  # nothing left holding positions or threads
        self._held.clear()

    # --- what came out -----------------------------------------------------------------------

    def ack(self) -> None:
        """Acknowledge every held batch (hold mode), as an output that delivered them."""
        held, self._held = self._held, []
        for batch in held:
            batch.ack.release()

    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(doc) for batch in self.batches for doc in batch.docs]

    def messages(self) -> list[str]:
        return [r["message"] for r in self.records()]

    def committed(self, path: Path | str) -> int | None:
        """The acknowledged offset kept for the file now at ``path`` (None: no position for it)."""
        for tf in [*self.input.active.values(), *self.input.draining]:
            if tf.f.path == str(path):
                return tf.cursor.committed
        return None


@contextmanager
def tail_harness(source_yaml: str, hold: bool = False) -> Iterator[TailHarness]:
    """A started harness for one ``- type: tail`` source (YAML, indented as under ``sources:``), closed after."""
    h = TailHarness(source_yaml, hold=hold)
    try:
        yield h.start()
    finally:
        h.close()


def copytruncate(log: Path, copy: Path) -> None:
    """What logrotate's copytruncate does between two looks of a poller: 30 late lines (200-229) land before
    the copy, the file is copied to ``copy`` and truncated, and 70 new lines (230-299) are written."""
    with open(log, "ab") as f:
        f.write(b"".join(b"line %d late\n" % i for i in range(200, 230)))
    shutil.copyfile(log, copy)
    os.truncate(log, 0)
    with open(log, "ab") as f:
        f.write(b"".join(b"line %d new\n" % i for i in range(230, 300)))
