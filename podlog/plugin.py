"""Plugin bases and the registry.

A plugin is one module with one class: ``kind`` and ``name`` class attributes
and a nested ``Options`` declaration. Built-ins are found by module name
(``podlog.outputs.file`` for output ``file``), so nothing is imported that a
config does not use: the sidecar stays small.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

from podlog.config.options import Options

__all__ = ["KINDS", "Plugin", "available", "lookup"]

KINDS = {"input": "podlog.inputs", "parser": "podlog.parsers", "filter": "podlog.filters", "output": "podlog.outputs"}


class Plugin:
    """Base of every plugin: options in, ``start``/``stop`` lifecycle."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()

    class Options(Options):
        pass

    def __init__(self, options: Options, **context: Any) -> None:
        self.options = options
        self.context = context

    def start(self) -> None:
        """Open connections, threads or files. Called once before data flows."""

    def stop(self) -> None:
        """Release what ``start`` took."""


def _modules(kind: str) -> list[str]:
    package = importlib.import_module(KINDS[kind])
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def _plugin_in(module_name: str, kind: str) -> type[Plugin] | None:
    module = importlib.import_module(module_name)
    for value in vars(module).values():
        is_plugin = isinstance(value, type) and issubclass(value, Plugin) and value.kind == kind and value.name
        if is_plugin and value.__module__.startswith(module.__name__):
            return value
    return None


def lookup(kind: str, name: str) -> type[Plugin]:
    """The plugin class for ``kind``/``name``; KeyError lists what exists."""
    base = KINDS[kind]
    module_name = name.replace("-", "_")
    if module_name in _modules(kind):
        found = _plugin_in(f"{base}.{module_name}", kind)
        if found is not None and (found.name == name or name in found.aliases or module_name == found.name):
            return found
    for cls in available(kind).values():
        if name == cls.name or name in cls.aliases:
            return cls
    raise KeyError(f"no {kind} plugin named {name!r}; available: {', '.join(sorted(available(kind)))}")


def available(kind: str) -> dict[str, type[Plugin]]:
    """Every built-in plugin of a kind (imports them all: for docs and errors only)."""
    out: dict[str, type[Plugin]] = {}
    for module_name in _modules(kind):
        cls = _plugin_in(f"{KINDS[kind]}.{module_name}", kind)
        if cls is not None:
            out[cls.name] = cls
    return out
