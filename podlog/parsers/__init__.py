"""Parsers: one module per parser; ``build_parser`` makes one from a config value."""

from __future__ import annotations

from typing import Any

from podlog.config.errors import ConfigError, Located

__all__ = ["build_parser"]


def build_parser(spec: Any, where: Located | None) -> Any:
    """A parser from ``"json"`` or ``{"type": "regex", "expression": ...}``."""
    from podlog.plugin import lookup

    where = where or Located("<config>", 0, "parser")
    name: Any
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, dict):
        name = spec.get("type", spec.get("@type"))
        options = {k: v for k, v in spec.items() if k not in ("type", "@type")}
        key_lines = getattr(spec, "key_lines", None)
        if key_lines:
            where = Located(where.file, getattr(spec, "line", where.line), where.path, key_lines)
    else:
        raise ConfigError(where, "expected a parser name or a mapping with type:")
    if not name:
        raise ConfigError(where, "type: is required")
    try:
        cls = lookup("parser", str(name))
    except KeyError as exc:
        raise ConfigError(where, str(exc.args[0])) from None
    return cls(cls.Options.from_mapping(options, where, f"{where.path}."))
