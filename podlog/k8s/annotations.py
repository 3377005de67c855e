"""Pod annotations that choose how podlog treats a pod's logs, per pod or per container.

- ``podlog.io/exclude: "true"``: the pod's lines are dropped (counted as dropped by the filter).
- ``podlog.io/parser: json`` (any parser name: ``nginx``, ``apache2``, ``syslog``, ``logfmt``...,
  ``regex:<expression>`` with named groups, or a JSON mapping ``{"type": ..., ...}``): the message
  is parsed with it, its fields merged into the record.
- ``podlog.io/multiline: java`` (``python``, ``go``, ``ruby``, a list ``java,python``, or a JSON
  mapping of multiline options): lines are joined into events while the file is read.

A container-specific form wins over the pod-wide one: ``podlog.io/parser-<container>``.

Exclusion and parsing happen in the ``kubernetes_metadata`` filter, once per batch. Multiline
joining must happen before anything else sees the lines, so the tail input asks
:func:`annotated_multiline` when it opens a file (a hook that does nothing unless a
``kubernetes_metadata`` filter with API access is running).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from podlog.k8s.metadata import PodInfo

__all__ = ["PREFIX", "annotated_multiline", "behaviour", "parser_spec", "register", "unregister"]

log = logging.getLogger("podlog.k8s.annotations")

PREFIX = "podlog.io/"

# Lookups of running kubernetes_metadata filters: path -> the pod's multiline spec (or None).
_lookups: list[Callable[[str, str | None], Any]] = []
_built: dict[str, Any] = {}
_lock = threading.Lock()


def behaviour(pod: PodInfo, name: str, container: str) -> str | None:
    """The value of ``podlog.io/<name>-<container>``, else ``podlog.io/<name>``."""
    annotations = pod.annotations
    value = annotations.get(f"{PREFIX}{name}-{container}")
    return value if value is not None else annotations.get(f"{PREFIX}{name}")


def parser_spec(value: str) -> Any:
    """``json`` -> "json"; ``regex:^(?<a>.*)$`` -> a regex parser mapping; ``{...}`` -> the mapping."""
    value = value.strip()
    if value.startswith("regex:"):
        return {"type": "regex", "expression": value[len("regex:"):]}
    if value.startswith("{"):
        return orjson.loads(value)
    return value


def multiline_spec(value: str) -> Any:
    value = value.strip()
    if value.startswith("{"):
        return orjson.loads(value)
    return [v.strip() for v in value.split(",") if v.strip()]


def register(lookup: Callable[[str, str | None], Any]) -> None:
    with _lock:
        _lookups.append(lookup)


def unregister(lookup: Callable[[str, str | None], Any]) -> None:
    with _lock:
        if lookup in _lookups:
            _lookups.remove(lookup)


def annotated_multiline(path: str, realpath: str | None = None) -> Any:
    """The multiline rules (a ``Multiline``) the file's pod asks for, or None. Called once per opened file."""
    if not _lookups:
        return None
    for lookup in list(_lookups):
        value = lookup(path, realpath)
        if value:
            return _multiline(value)
    return None


def _multiline(value: str) -> Any:
    if value not in _built:
        from podlog.codecs.multiline import build_multiline
        from podlog.config.errors import ConfigError, Located

        try:
            _built[value] = build_multiline(multiline_spec(value), Located("annotation", 0, f"{PREFIX}multiline"))
        except (ConfigError, orjson.JSONDecodeError) as exc:
            log.warning("ignoring annotation %smultiline: %r: %s", PREFIX, value, exc)
            _built[value] = None
    return _built[value]
