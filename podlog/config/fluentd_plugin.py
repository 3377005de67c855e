"""What a plugin's own Fluentd translation works with (its ``fluentd`` hook).

``config.fluentd`` maps sections and directives for every plugin alike; a
plugin whose Fluentd form differs from its podlog options (renamed keys,
sections that become flat options, a variant ``@type``) translates it in its
own module, with the section it came from and these helpers, which keep every
key's fluent.conf line so errors still point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podlog.config.errors import ConfigError, Located
from podlog.config.yaml_loader import LineDict

__all__ = ["FluentdSection", "merge", "pop", "put"]


@dataclass(frozen=True)
class FluentdSection:
    """The fluent.conf section a plugin's options come from."""

    type: str  # the @type as written: elasticsearch_data_stream, prometheus, sampling
    tag: str  # the section as written, for messages: <match **>
    file: str
    line: int
    path: str  # the config path of errors: source, match, label @X.filter

    def error(self, message: str) -> ConfigError:
        """An error about the whole section."""
        return ConfigError(Located(self.file, self.line, self.path), message)


def put(out: LineDict, key: str, value: Any, line: int) -> None:
    """Set ``key`` (from ``line``) once: a second setting is an error naming the first."""
    if key in out:
        raise ConfigError(Located(out.file, line, key), f"set twice (first at line {out.key_lines[key]})")
    out[key] = value
    out.key_lines[key] = line


def pop(out: LineDict, key: str) -> Any:
    """Remove ``key`` and its line; the value."""
    out.key_lines.pop(key, None)
    return out.pop(key)


def merge(options: LineDict, section: LineDict) -> None:
    """A section's keys into ``options``, each with its line."""
    for key, value in section.items():
        put(options, key, value, section.key_lines.get(key, section.line))
