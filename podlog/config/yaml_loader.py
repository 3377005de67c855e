"""YAML config loading that remembers the line of every key.

PyYAML's composer gives marks per node; we keep them so an error can point at
``file:line``. ``${VAR}`` and ``${VAR:-default}`` are substituted in scalars,
because credentials arrive as environment variables from Secrets.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from podlog.config.errors import ConfigError, Located

__all__ = ["LineDict", "load_yaml", "substitute_env"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}|\$\$")


class LineDict(dict[str, Any]):
    """A mapping from the config that knows its file and the line of each key."""

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.key_lines: dict[str, int] = {}

    def located(self, path: str) -> Located:
        return Located(self.file, self.line, path, self.key_lines)


def substitute_env(text: str, file: str, line: int, env: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; ``$$`` is a literal dollar."""
    environ = os.environ if env is None else env

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(Located(file, line, ""), f"environment variable {name} is not set (use ${{{name}:-default}})")

    return _ENV.sub(repl, text)


def _construct(node: yaml.Node, file: str) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = LineDict(file, line)
        for key_node, value_node in node.value:
            key = str(_construct(key_node, file))
            if key in out:
                raise ConfigError(Located(file, key_node.start_mark.line + 1, key), "duplicate key")
            out[key] = _construct(value_node, file)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, file) for item in node.value]
    value = _scalar(node)
    if isinstance(value, str) and "$" in value:
        substituted = substitute_env(value, file, line)
        plain = isinstance(node, yaml.ScalarNode) and node.style is None and substituted != value
        value = _retype(substituted) if plain else substituted
    return value


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _retype(value: str) -> Any:
    """After substitution a plain scalar like ``${PORT}`` should still read as a number."""
    try:
        typed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return typed if isinstance(typed, (int, float, bool)) else value


def load_yaml(text: str, file: str) -> Any:
    """Parse YAML text into LineDicts and lists; syntax errors become ConfigError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise ConfigError(Located(file, line, ""), f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if node is None:
        return LineDict(file, 1)
    return _construct(node, file)
