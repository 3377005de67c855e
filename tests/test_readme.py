"""The README's configuration example is a config the agent accepts (what users copy first must work)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podlog.config.loader import load_config_text
from podlog.engine import Engine

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_yaml_config_builds_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    configs = [b for b in blocks if b.startswith(("agent:", "sources:"))]
    assert configs, "the README has no YAML config example"
    monkeypatch.setenv("ES_PASSWORD", "secret")
    for text in configs:
        engine = Engine(load_config_text(text, "README.md"))
        assert engine.inputs and engine.runners
        assert engine.filters or "filters:" not in text


def test_quickstart_demo_config_builds_an_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = README.parent / "examples" / "demo.yaml"
    monkeypatch.setenv("DEMO_DIR", str(tmp_path))
    engine = Engine(load_config_text(demo.read_text(), str(demo)))
    assert len(engine.inputs) == 2 and engine.inputs[0][0].options.multiline == "java"
