"""Read a config file (podlog YAML, or Fluentd syntax by its look) into a Config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podlog.config.errors import ConfigError, Located
from podlog.config.model import AgentSettings, Config, PluginSpec, Section
from podlog.config.options import Option, Options
from podlog.config.yaml_loader import LineDict, load_yaml

__all__ = ["AgentOptions", "load_config", "load_config_text"]

_RESERVED = ("type", "match", "label", "id", "buffer", "stores", "@type", "@label", "@id")


class AgentOptions(Options):
    """Settings of the agent process itself (the ``agent:`` section)."""

    grace_period = Option("duration", 20.0, doc="On SIGTERM: time to flush and checkpoint before exiting "
                          "(below the pod's terminationGracePeriodSeconds, 30s by default).")
    data_dir = Option("str", "", doc="Directory for checkpoints and buffers when a plugin does not name its own.")
    http_listen = Option("str", "", doc="host:port for /metrics, /healthz and /readyz; empty disables it.")
    log_level = Option("str", "info", doc="Agent log level.", choices=("debug", "info", "warning", "error"))
    total_limit_size = Option("size", 0, doc="Most bytes all output buffers together may hold (0: only "
                              "each output's own limit); beyond it inputs pause.")


def load_config(path: str) -> Config:
    """Load ``path``; Fluentd syntax is recognised by its ``<source>``-style directives."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(Located(path, 0, ""), f"cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(Located(path, 0, ""), "config is not UTF-8 text") from None
    return load_config_text(text, path)


def _looks_like_fluentd(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return stripped.startswith("<") or stripped.startswith("@include")
    return False


def load_config_text(text: str, file: str) -> Config:
    if _looks_like_fluentd(text):
        from podlog.config import fluentd

        return fluentd.load_fluentd_text(text, file)
    data = load_yaml(text, file)
    if not isinstance(data, LineDict):
        raise ConfigError(Located(file, 1, ""), "the config must be a mapping with sources: and outputs:")
    known = ("agent", "sources", "filters", "outputs", "labels")
    for key in data:
        if key not in known:
            raise ConfigError(data.located("").child(key), f"unknown section; valid: {', '.join(known)}")
    config = Config(file=file)
    config.agent = _agent(data)
    config.sources = [_spec(e, "input", f"sources[{i}]", file) for i, e in enumerate(_list(data, "sources"))]
    config.main = _section(data, "")
    labels = data.get("labels") or LineDict(file, data.line)
    if not isinstance(labels, LineDict):
        raise ConfigError(data.located("").child("labels"), "expected a mapping of label name to filters/outputs")
    for name, body in labels.items():
        if not isinstance(body, LineDict):
            raise ConfigError(labels.located("labels").child(name), "expected filters:/outputs:")
        config.labels[name] = _section(body, f"labels.{name}.")
    if not config.sources:
        raise ConfigError(data.located(""), "sources: at least one source is required")
    return config


def _agent(data: LineDict) -> AgentSettings:
    raw = data.get("agent") or {}
    where = raw.located("agent") if isinstance(raw, LineDict) else data.located("").child("agent")
    opts = AgentOptions.from_mapping(raw, where, "agent.")
    return AgentSettings(**{k: getattr(opts, k) for k in AgentOptions.declared()})


def _list(data: LineDict, key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ConfigError(data.located("").child(key), "expected a list")
    return value


def _section(data: LineDict, prefix: str) -> Section:
    return Section(
        filters=[_spec(e, "filter", f"{prefix}filters[{i}]", data.file) for i, e in enumerate(_list(data, "filters"))],
        outputs=[_spec(e, "output", f"{prefix}outputs[{i}]", data.file) for i, e in enumerate(_list(data, "outputs"))],
    )


def _spec(entry: Any, kind: str, path: str, file: str) -> PluginSpec:
    if not isinstance(entry, LineDict):
        raise ConfigError(Located(file, 0, path), "expected a mapping with a type:")
    where = entry.located(path)
    type_ = entry.get("type", entry.get("@type"))
    if not type_:
        raise ConfigError(where, "type: is required")
    match = entry.get("match")
    if kind != "input" and match is None:
        match = "**"
    options = {k: v for k, v in entry.items() if k not in _RESERVED}
    buffer = entry.get("buffer")
    if buffer is not None and not isinstance(buffer, LineDict):
        raise ConfigError(where.child("buffer"), "expected a mapping of buffer options")
    spec = PluginSpec(
        kind=kind, type=str(type_), options=options, where=where, match=None if match is None else str(match),
        label=entry.get("label", entry.get("@label")), id=entry.get("id", entry.get("@id")),
        buffer=buffer, buffer_where=buffer.located(f"{path}.buffer") if isinstance(buffer, LineDict) else None,
    )
    if spec.type == "copy":
        stores = entry.get("stores")
        if not isinstance(stores, list) or not stores:
            raise ConfigError(where.child("stores"), "copy needs stores: a list of outputs")
        spec.stores = [_spec(s, "output", f"{path}.stores[{i}]", file) for i, s in enumerate(stores)]
    return spec
