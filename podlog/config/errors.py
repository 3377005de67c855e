"""Config errors that name the file, the line and the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ConfigError", "Located", "Unevaluated"]


@dataclass(frozen=True)
class Located:
    """Where a config section is: its file, its first line, its key path, and the lines of its keys."""

    file: str
    line: int
    path: str
    key_lines: Mapping[str, int] = field(default_factory=dict)

    def child(self, key: str) -> Located:
        """The location of one key of this section."""
        path = f"{self.path}.{key}" if self.path else key
        return Located(self.file, self.key_lines.get(key, self.line), path)


class ConfigError(Exception):
    """A configuration problem, printed as ``file:line: key: what is wrong``."""

    def __init__(self, where: Located, message: str) -> None:
        self.where = where
        self.message = message
        key = f" {where.path}:" if where.path else ""
        super().__init__(f"{where.file}:{where.line}:{key} {message}")


@dataclass(frozen=True)
class Unevaluated:
    """A fluent.conf value whose embedded Ruby podlog cannot evaluate.

    The error is raised only where the value is used: an option accepted
    without effect (``kubernetes_url`` of the kubernetes_metadata filter, in
    every DaemonSet image) does not need its value, so it does not stop the
    config from loading.
    """

    error: ConfigError

    def __str__(self) -> str:
        raise self.error
