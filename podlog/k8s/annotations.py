"""Pod annotations that choose how podlog treats a pod's logs, per pod or per container.

- ``podlog.io/exclude: "true"``: the pod's lines are dropped (counted as dropped by the filter).
- ``podlog.io/parser: json`` (any parser name: ``nginx``, ``apache2``, ``syslog``, ``logfmt``...,
  ``regex:<expression>`` with named groups, or a JSON mapping ``{"type": ..., ...}``): the message
  is parsed with it, its fields merged into the record.
- ``podlog.io/multiline: java`` (``python``, ``go``, ``ruby``, a list ``java,python``, or a JSON
  mapping of multiline options): lines are joined into events while the file is read.

A container-specific form wins over the pod-wide one: ``podlog.io/parser-<container>``.

Exclusion and parsing happen in the ``kubernetes_metadata`` filter, once per batch. Multiline
joining must happen before anything else sees the lines, so the tail input asks for it when it
opens a file (``podlog.k8s.tail_hook``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from podlog.k8s.metadata import PodInfo

__all__ = ["PREFIX", "behaviour", "multiline_rules", "parser_spec"]

log = logging.getLogger("podlog.k8s.annotations")

PREFIX = "podlog.io/"

_built: dict[str, Any] = {}


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


def multiline_rules(value: str) -> Any:
    """The ``Multiline`` for an annotation value, built once per value; a bad value is logged once (None)."""
    if value not in _built:
        from podlog.codecs.multiline import build_multiline
        from podlog.config.errors import ConfigError, Located

        try:
            _built[value] = build_multiline(multiline_spec(value), Located("annotation", 0, f"{PREFIX}multiline"))
        except (ConfigError, orjson.JSONDecodeError) as exc:
            log.warning("ignoring annotation %smultiline: %r: %s", PREFIX, value, exc)
            _built[value] = None
    return _built[value]
