"""A tail thread that dies must not leave a healthy-looking agent that reads nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from podlog.config.loader import load_config_text
from podlog.engine import Engine
from podlog.inputs.tail.input import TailInput


def test_a_dead_tail_thread_fails_healthz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(load_config_text(f"""
sources:
  - type: tail
    path: [{tmp_path}/*.log]
outputs:
  - type: "null"
""", "agent.yaml"))
    tail = engine.inputs[0][0]
    assert isinstance(tail, TailInput)
    assert engine.status()["alive"]

    def broken(self: TailInput) -> None:
        raise RuntimeError("a bug in the loop")

    monkeypatch.setattr(TailInput, "_loop", broken)
    tail.run(lambda batch: None)
    assert isinstance(tail._thread, threading.Thread)
    tail._thread.join(10)
    assert not tail.healthy()
    assert not engine.status()["alive"]  # what /healthz answers (503)
    tail.stop()
