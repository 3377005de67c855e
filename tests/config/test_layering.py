"""Imports point down (issue 8): ``config/`` knows plugins only through its registry.

Plugins import ``config`` (options, errors, the Fluentd helpers); if
``config`` imported them back, even inside a function to dodge the cycle, a
change in a plugin could break config loading and the two could not be read
apart. Every import statement of ``podlog/config/`` (module level or not) and
of ``podlog/plugin.py`` is checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PODLOG = Path(__file__).resolve().parents[2] / "podlog"


def _imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source`` (a module of ``package``), relative ones resolved."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            out.append((node.lineno, ".".join(p for p in (base, node.module or "") if p)))
    return out


def _podlog_imports(path: Path) -> list[tuple[int, str]]:
    package = ".".join(path.relative_to(PODLOG.parent).with_suffix("").parts[:-1])
    return [(line, m) for line, m in _imports(path.read_text(), package) if m.split(".")[0] == "podlog"]


@pytest.mark.parametrize("path", sorted((PODLOG / "config").glob("*.py")), ids=lambda p: p.name)
def test_config_imports_only_config(path: Path) -> None:
    upward = [f"{path.name}:{line}: {m}" for line, m in _podlog_imports(path) if not m.startswith("podlog.config")]
    assert upward == []


def test_the_plugin_base_imports_only_config() -> None:
    path = PODLOG / "plugin.py"
    assert [m for _, m in _podlog_imports(path) if not m.startswith("podlog.config")] == []
    assert ("podlog.config.registry" in {m for _, m in _podlog_imports(path)}), "the registry is config's"


def test_the_checker_sees_function_level_and_relative_imports() -> None:
    """The check above would pass vacuously if it missed the lazy imports it is there to catch."""
    source = "import os\ndef f():\n    from podlog.plugin import lookup\n    from ..buffer import options\n"
    assert _imports(source, "podlog.config") == [(1, "os"), (3, "podlog.plugin"), (4, "podlog.buffer")]
