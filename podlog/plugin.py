"""Plugin bases and the registry.

A plugin is one module with one class: ``kind`` and ``name`` class attributes
and a nested ``Options`` declaration. Built-ins are found by module name
(``podlog.outputs.file`` for output ``file``, see ``config.registry``), so
nothing is imported that a config does not use: the sidecar stays small.

Typing: each plugin annotates ``options: Options`` in its class body, naming
its own nested class, so mypy knows ``self.options.path`` is a ``str``. That
one line is the smallest design that keeps the nested declaration where a
reader looks for it: a generic ``Plugin[OptionsT]`` would need the Options
class defined before (outside) the plugin class to name it in the bases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from podlog.config import registry
from podlog.config.options import Options as BaseOptions
from podlog.config.registry import KINDS

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.yaml_loader import LineDict

__all__ = ["KINDS", "Plugin", "available", "lookup"]


class Plugin:
    """Base of every plugin: options in, ``start``/``stop`` lifecycle."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()

    class Options(BaseOptions):
        pass

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        self.options = options
        self.context = context

    @classmethod
    def fluentd(cls, options: LineDict, section: FluentdSection) -> None:
        """Translate this plugin's fluent.conf form into its options, in place (``config.fluentd`` calls it
        after the generic mapping); most plugins keep Fluentd's names and need nothing here."""

    def start(self) -> None:
        """Open connections, threads or files. Called once before data flows."""

    def stop(self) -> None:
        """Release what ``start`` took."""


def lookup(kind: str, name: str) -> type[Plugin]:
    """The plugin class for ``kind``/``name``; KeyError lists what exists."""
    return cast("type[Plugin]", registry.lookup(kind, name))


def available(kind: str) -> dict[str, type[Plugin]]:
    """Every built-in plugin of a kind (imports them all: for docs and errors only)."""
    return cast("dict[str, type[Plugin]]", registry.available(kind))
