"""The loaded configuration, whatever syntax it came from (podlog YAML or fluent.conf).

Both loaders produce these plain objects; the engine builds plugins from them.
Options stay raw (a LineDict) until the plugin's ``Options`` class validates
them, so every error can still name its file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from podlog.config.errors import Located

__all__ = ["AgentSettings", "Config", "PluginSpec", "Section"]


@dataclass
class PluginSpec:
    """One ``<source>``/``<filter>``/``<match>`` (or YAML list entry)."""

    kind: str                      # input | filter | output
    type: str
    options: dict[str, Any]
    where: Located
    match: str | None = None       # tag pattern (filters, outputs)
    label: str | None = None       # sources: route into this label
    id: str | None = None
    buffer: dict[str, Any] | None = None
    buffer_where: Located | None = None
    stores: list[PluginSpec] = field(default_factory=list)  # copy

    @property
    def display(self) -> str:
        return self.id or f"{self.type}"


@dataclass
class Section:
    """Filters and outputs of the top level or of one ``@label``."""

    filters: list[PluginSpec] = field(default_factory=list)
    outputs: list[PluginSpec] = field(default_factory=list)


@dataclass
class AgentSettings:
    grace_period: float = 20.0
    data_dir: str = ""
    http_listen: str = ""
    log_level: str = "info"
    total_limit_size: int = 0


@dataclass
class Config:
    file: str
    sources: list[PluginSpec] = field(default_factory=list)
    main: Section = field(default_factory=Section)
    labels: dict[str, Section] = field(default_factory=dict)
    agent: AgentSettings = field(default_factory=AgentSettings)
