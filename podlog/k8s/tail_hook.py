"""What the tail input asks when it opens a kubelet log file: the pod's metadata and multiline rules.

The tail serialises a file's constant fields once, into the template of every
line. When a ``kubernetes_metadata`` filter with API access is running, the
``kubernetes`` field it would write is put there from the start, so enriched
records cost the tail nothing per line and the filter only checks, once per
batch, that the file's metadata is still current (it swaps it when labels
changed, or when the pod was not known yet when the file was opened). The
pod's ``podlog.io/multiline`` annotation chooses the file's multiline rules.

Without such a filter the hook returns the file-name metadata unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["from_pod", "register", "unregister"]

# (file-name metadata) -> (the kubernetes field, a podlog.io/multiline value or None); None: pod unknown
Lookup = Callable[[dict[str, Any]], "tuple[dict[str, Any], str | None] | None"]

_lookups: list[Lookup] = []
_lock = threading.Lock()


def register(lookup: Lookup) -> None:
    with _lock:
        _lookups.append(lookup)


def unregister(lookup: Lookup) -> None:
    with _lock:
        if lookup in _lookups:
            _lookups.remove(lookup)


def from_pod(names: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """(the file's kubernetes field, its multiline rules or None); called once per opened file."""
    for lookup in list(_lookups):
        found = lookup(names)
        if found is not None:
            field, multiline = found
            if multiline:
                from podlog.k8s.annotations import multiline_rules

                return field, multiline_rules(multiline)
            return field, None
    return names, None
