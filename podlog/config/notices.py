"""Things a config says that podlog accepts but that change nothing: reported, never silent.

Fluentd configs carry options podlog takes for compatibility without acting on
them (``reload_on_failure``, ``<buffer tag,time>`` chunk keys, a missing
``@include``d file). Each becomes a ``Notice`` naming file, line and key.
``podlog check`` collects them and prints each as a warning; elsewhere (the
agent starting) they are logged once as warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from podlog.config.errors import Located

__all__ = ["Notice", "collect", "notice"]

log = logging.getLogger("podlog.config")


@dataclass(frozen=True)
class Notice:
    """One accepted-but-without-effect setting, printed as ``file:line: key: message``."""

    where: Located
    message: str

    def __str__(self) -> str:
        key = f" {self.where.path}:" if self.where.path else ""
        return f"{self.where.file}:{self.where.line}:{key} {self.message}"


_sink: ContextVar[list[Notice] | None] = ContextVar("podlog_config_notices", default=None)


def notice(where: Located, message: str) -> None:
    """Report one setting without effect: to the active ``collect()``, else as a warning log line."""
    found = Notice(Located(where.file, where.line, where.path), message)
    sink = _sink.get()
    if sink is None:
        log.warning("%s", found)
    elif found not in sink:  # a section built twice (check, then dry run) reports once
        sink.append(found)


@contextmanager
def collect() -> Iterator[list[Notice]]:
    """Gather the notices raised inside the block (in order, without repeats) instead of logging them."""
    sink: list[Notice] = []
    token = _sink.set(sink)
    try:
        yield sink
    finally:
        _sink.reset(token)
