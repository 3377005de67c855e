"""Fluentd forms podlog takes over as Fluentd v1 does, kept apart from the main mapping (``fluentd``).

* v0.12 buffer parameters written in a ``<match>`` (``buffer_chunk_limit``,
  ``num_threads``, ``flush_interval``...) move into its buffer, under their v1
  names, as Fluentd v1's compatibility layer does;
* parameters with no effect in podlog (in_tail's ``emit_unmatched_lines``, the
  cri parser's ``time_format``) are dropped with a notice at their line;
* embedded Ruby that could not be evaluated is refused at load, unless it only
  sets an option without effect (its ``Options`` then reports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podlog.config.errors import ConfigError, Located, Unevaluated
from podlog.config.model import PluginSpec
from podlog.config.notices import notice
from podlog.config.registry import lookup, shared_options
from podlog.config.yaml_loader import LineDict

__all__ = ["legacy_buffer", "no_effect", "refuse_unevaluated"]

V012_BUFFER = {
    "buffer_type": "type", "buffer_path": "path", "num_threads": "flush_thread_count",
    "flush_interval": "flush_interval", "disable_retry_limit": "retry_forever", "retry_limit": "retry_max_times",
    "max_retry_wait": "retry_max_interval", "retry_wait": "retry_wait", "buffer_chunk_limit": "chunk_limit_size",
    "buffer_queue_limit": "queue_limit_length", "buffer_queue_full_action": "overflow_action",
    "flush_at_shutdown": "flush_at_shutdown",
}
def _declared(kind: str, name: str) -> dict[str, Any]:
    """A plugin's options by every name they answer to ({} for engine-level types and unknown ones)."""
    if not name or name == "copy":
        return {}
    try:
        cls = lookup("filter" if name == "rewrite_tag_filter" else kind, name)
    except KeyError:
        return {}
    return {alias: opt for opt in cls.Options.declared().values() for alias in (opt.name, *opt.aliases)}


def legacy_buffer(spec: PluginSpec, options: LineDict, ptype: str) -> None:
    """v0.12 buffer parameters of a ``<match>`` -> its buffer (a parameter the output declares stays)."""
    declared = _declared("output", ptype)
    legacy = [k for k in options if k in V012_BUFFER and k not in declared]
    if not legacy:
        return
    buffer = spec.buffer
    if not isinstance(buffer, LineDict):  # fluent.conf sections are LineDicts; None: no <buffer> section yet
        buffer = spec.buffer = LineDict(options.file, spec.where.line)
    for key in legacy:
        line = options.key_lines.pop(key)
        value = options.pop(key)
        if key == "disable_retry_limit" and str(value).strip().lower() in ("false", "no", "off", "0"):
            continue  # the default: retry limits apply
        name = V012_BUFFER[key]
        if name in buffer:
            raise ConfigError(Located(options.file, line, key),
                              f"set twice: here and as {name} in <buffer> (line {buffer.key_lines[name]})")
        buffer[name] = value
        buffer.key_lines[name] = line
    spec.buffer_where = buffer.located(f"{spec.where.path}.buffer")  # with the lines of the moved keys


def no_effect(options: LineDict, table: Mapping[str, str], kind: str, name: str, path: str) -> None:
    """Drop the parameters of ``table`` the plugin does not declare, each with a notice saying why."""
    declared = _declared(kind, name)
    for key, why in table.items():
        if key in options and key not in declared:
            line = options.key_lines.pop(key)
            del options[key]
            notice(Located(options.file, line, f"{path}.{key}"), f"accepted for compatibility, has no effect: {why}")


def refuse_unevaluated(spec: PluginSpec) -> None:
    """Embedded Ruby podlog could not evaluate is an error now (a config is refused at load, not at start),
    unless it sets an option without effect: its ``Options`` then reports it as such."""
    _refuse(spec.options, _declared(spec.kind, spec.type))
    if spec.buffer is not None:
        buffer = shared_options("buffer")
        _refuse(spec.buffer, {a: o for o in buffer.declared().values() for a in (o.name, *o.aliases)})


def _refuse(values: Mapping[str, Any], declared: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Unevaluated) and not getattr(declared.get(key), "ignored", ""):
            raise value.error
        if isinstance(value, Mapping):
            _refuse(value, {})
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    _refuse(item, {})
