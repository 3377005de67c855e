"""The codecs' imports point one way: envelopes and framing below the facade, nothing private from parsers.

Read from the source (every import, function-level ones too), so a cycle dodged with a late import fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import podlog.codecs

CODECS = Path(podlog.codecs.__file__).parent


def imports() -> dict[str, set[str]]:
    """podlog.codecs.X -> the podlog modules it imports, anywhere in it."""
    graph: dict[str, set[str]] = {}
    for path in CODECS.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("podlog"):
                found.update(f"{node.module}.{a.name}" if node.module == "podlog.codecs" else node.module
                             for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("podlog"))
        graph[f"podlog.codecs.{path.stem}"] = found
    return graph


def test_no_cycle_among_the_codecs() -> None:
    graph = imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dep in graph.get(module, ()):
            visit(dep, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_only_the_facade_imports_everything_and_no_codec_reaches_into_private_modules() -> None:
    graph = imports()
    assert not [m for m, deps in graph.items() if "podlog.codecs.container" in deps]
    private = {m: sorted(d for d in deps if any(part.startswith("_") for part in d.split("."))) for m, deps in
               graph.items()}
    assert not {m: d for m, d in private.items() if d}
    assert graph["podlog.codecs.records"] == set()  # the bottom: plain data and documents
