"""Every import in ``podlog/`` points down: no cycles, no upward or sideways imports.

The modules are read with ``ast`` (nothing is imported, so no side effects), and
every ``import`` counts, at module level, inside a function or under
``if TYPE_CHECKING:`` (a function-level or type-only import dodges a cycle at run
time; the two modules still depend on each other).

A private module (``_name.py``) is imported only from inside its own package;
the ``_base`` modules are the exception: they hold each plugin kind's base class
(``Input``, ``Filter``, ...), public by design and named so that the plugin
registry, which skips ``_`` modules, does not take them for plugins.

The layers, lowest first. A module may import modules of its own group and of
lower layers; the groups of one layer are siblings and do not import each other.

 0  podlog (the package: import-free), podlog.config   what a config says: syntax, options, errors
 1  podlog.buffer.ack                                  the delivery contract every batch carries
 2  podlog.batch, podlog.router                        records in flight, tag patterns
 3  podlog.telemetry                                   metrics, the loss ledger, the status server
 4  podlog.plugin                                      plugin bases and registry
 5  podlog.parsers                                     line -> fields
 6  podlog.codecs, podlog.fields                       container envelopes and multiline; field access
 7  podlog.k8s, podlog.metrics, podlog.store           API client, metrics rules, the embedded store
 8  podlog.buffer                                      chunks, buffers, retries, dead letters
 9  podlog.filters, podlog.inputs, podlog.outputs      the plugins
10  podlog.buffer.runner                               drives an output: above the outputs
11  podlog.pipeline                                    builds the pipeline from a config
12  podlog.engine, podlog.dryrun, podlog.stream        run it (agent, dry run, sidecar)
13  podlog.demo, podlog.web                            demo workload, search UI
14  podlog.up                                          agent + store + UI in one command
15  podlog.cli
16  podlog.__main__
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "podlog"

LAYERS: list[tuple[str, ...]] = [
    ("podlog", "podlog.config"),
    ("podlog.buffer.ack",),  # with branch i8-delivery: acks live in buffer/ack.py and batch.py imports them
    ("podlog.batch", "podlog.router"),
    ("podlog.telemetry",),
    ("podlog.plugin",),
    ("podlog.parsers",),
    ("podlog.codecs", "podlog.fields"),
    ("podlog.k8s", "podlog.metrics", "podlog.store"),
    ("podlog.buffer",),
    ("podlog.filters", "podlog.inputs", "podlog.outputs"),
    ("podlog.buffer.runner",),
    ("podlog.pipeline",),
    ("podlog.engine", "podlog.dryrun", "podlog.stream"),
    ("podlog.demo", "podlog.web"),
    ("podlog.up",),
    ("podlog.cli",),
    ("podlog.__main__",),
]

def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The podlog modules ``name`` imports, at any depth (``from pkg import submodule`` names the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if (m == "podlog" or m.startswith("podlog.")) and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer_of(module: str) -> tuple[int, str]:
    """(layer, group) of a module: the longest group name that is the module or a package holding it."""
    best = (-1, "")
    for rank, groups in enumerate(LAYERS):
        for group in groups:
            if (module == group or module.startswith(group + ".")) and len(group) > len(best[1]):
                best = (rank, group)
    assert best[0] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def wrong_way(edges: dict[str, set[str]]) -> list[str]:
    """Edges to a higher layer, or to a sibling group of the same layer."""
    out = []
    for module, targets in sorted(edges.items()):
        rank, group = layer_of(module)
        for target in sorted(targets):
            t_rank, t_group = layer_of(target)
            if t_rank > rank or (t_rank == rank and t_group != group):
                out.append(f"{module} ({group}, layer {rank}) imports {target} ({t_group}, layer {t_rank})")
    return out


def private_reach(edges: dict[str, set[str]]) -> list[str]:
    """Imports of another package's private module (``_base`` excepted: plugin bases are public)."""
    out = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            owner, _, leaf = target.rpartition(".")
            private = leaf.startswith("_") and not leaf.startswith("__") and leaf != "_base"
            if private and not (module == owner or module.startswith(owner + ".")):
                out.append(f"{module} imports {target}, private to {owner}")
    return out


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_every_import_points_down() -> None:
    assert wrong_way(graph()) == []


def test_no_private_module_of_another_package() -> None:
    assert private_reach(graph()) == []



def test_the_checker_sees_function_level_imports_and_cycles(tmp_path: Path) -> None:
    """The parser finds imports inside a function and under TYPE_CHECKING, and the checks catch both faults."""
    package = tmp_path / "podlog"
    (package / "config").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "config" / "__init__.py").write_text("")
    (package / "config" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from podlog.engine import Engine\n"
        "def f():\n    from podlog.plugin import Plugin\n")
    (package / "plugin.py").write_text("from podlog.config import a\nfrom podlog.config._x import y\n")
    (package / "config" / "_x.py").write_text("y = 1\n")
    known = {"podlog.config.a": package / "config" / "a.py", "podlog.plugin": package / "plugin.py",
             "podlog.config._x": package / "config" / "_x.py",
             "podlog.config": package / "config" / "__init__.py"}
    found = {"podlog.config.a": imports("podlog.config.a", known["podlog.config.a"], known),
             "podlog.plugin": imports("podlog.plugin", known["podlog.plugin"], known)}
    assert found == {"podlog.config.a": {"podlog.plugin", "podlog.engine"},
                     "podlog.plugin": {"podlog.config.a", "podlog.config._x"}}
    assert cycles(found) == [["podlog.config.a", "podlog.plugin"]]
    assert wrong_way(found) == [
        "podlog.config.a (podlog.config, layer 0) imports podlog.engine (podlog.engine, layer 12)",
        "podlog.config.a (podlog.config, layer 0) imports podlog.plugin (podlog.plugin, layer 4)"]
    assert private_reach(found) == ["podlog.plugin imports podlog.config._x, private to podlog.config"]
