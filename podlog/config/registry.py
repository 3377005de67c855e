"""The registry: which plugin a kind and a name mean, found by module name.

Plugins import ``config`` (their Options, errors, the Fluentd helpers);
``config`` must not import them back. Yet the Fluentd translation and the
reference need to know which plugins exist and what they declare. So this
module is the one place that loads them, by module name when asked (the way
entry points load plugins: ``podlog.outputs.file`` for output ``file``), and
config code sees a plugin only through the ``PluginClass`` protocol. Nothing
is imported that a config does not use: the sidecar stays small.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.options import Options
    from podlog.config.yaml_loader import LineDict

__all__ = ["KINDS", "SHARED_OPTIONS", "PluginClass", "available", "lookup", "shared_options"]

KINDS = {"input": "podlog.inputs", "parser": "podlog.parsers", "filter": "podlog.filters", "output": "podlog.outputs"}
# Option sets shared by many plugins, declared where they act (module, class), for the reference and fluent.conf.
SHARED_OPTIONS = {"buffer": ("podlog.buffer.options", "BufferOptions"),
                  "multiline": ("podlog.codecs.multiline", "MultilineOptions")}


class PluginClass(Protocol):
    """What config code uses of a plugin class (``podlog.plugin.Plugin`` has it all)."""

    kind: str
    name: str
    aliases: tuple[str, ...]
    __doc__: str | None

    @property
    def Options(self) -> type[Options]: ...  # the nested class every plugin declares

    def fluentd(self, options: LineDict, section: FluentdSection) -> None: ...


def _modules(kind: str) -> list[str]:
    package = importlib.import_module(KINDS[kind])
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def _is_plugin(value: Any, kind: str) -> bool:
    return (isinstance(value, type) and getattr(value, "kind", None) == kind and bool(getattr(value, "name", ""))
            and isinstance(getattr(value, "Options", None), type) and callable(getattr(value, "fluentd", None)))


def _plugin_in(module_name: str, kind: str) -> PluginClass | None:
    module = importlib.import_module(module_name)
    exported = [getattr(module, name) for name in getattr(module, "__all__", ())]  # a lazy package's too
    for value in [*exported, *vars(module).values()]:
        if _is_plugin(value, kind) and value.__module__.startswith(module.__name__):
            return cast("PluginClass", value)
    return None


def lookup(kind: str, name: str) -> PluginClass:
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


def available(kind: str) -> dict[str, PluginClass]:
    """Every built-in plugin of a kind (imports them all: for docs and errors only)."""
    out: dict[str, PluginClass] = {}
    for module_name in _modules(kind):
        cls = _plugin_in(f"{KINDS[kind]}.{module_name}", kind)
        if cls is not None:
            out[cls.name] = cls
    return out


def shared_options(name: str) -> type[Options]:
    """A shared option set by its name in ``SHARED_OPTIONS`` (``buffer``, ``multiline``)."""
    module, attr = SHARED_OPTIONS[name]
    return cast("type[Options]", getattr(importlib.import_module(module), attr))
