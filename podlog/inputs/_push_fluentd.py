"""The push inputs' fluent.conf form (forward, http, syslog): their ``fluentd`` hook.

``<transport>``, ``<security>`` and a syslog ``<parse>`` become the input's
flat options. Keys move with their lines, so the input's Options reject what
podlog does not support where it is written (``<user>`` auth, ``<client>``
lists, TLS knobs beyond certificates and client checks).
"""

from __future__ import annotations

from podlog.config.errors import ConfigError
from podlog.config.fluentd_plugin import FluentdSection, merge, pop, put
from podlog.config.yaml_loader import LineDict

__all__ = ["translate"]


def translate(options: LineDict, section: FluentdSection, ptype: str) -> None:
    """Flatten the sections of push input ``ptype`` (forward, http, syslog) into its options."""
    transport = options.get("transport")
    if isinstance(transport, LineDict):
        pop(options, "transport")
        protocol = pop(transport, "protocol")
        where = transport.located("transport")
        if protocol not in ("tcp", "udp", "tls"):
            raise ConfigError(where, f"<transport {protocol}>: expected tcp, udp or tls")
        if ptype == "syslog":
            put(options, "transport", protocol, transport.line)
        elif protocol == "udp":
            raise ConfigError(where, f"the {ptype} input listens on TCP: <transport tcp> or <transport tls>")
        if protocol == "tls":
            put(options, "tls", True, transport.line)
        merge(options, transport)
    security = options.get("security")
    if isinstance(security, LineDict):
        pop(options, "security")
        merge(options, security)
    parser = options.get("parser")
    if ptype == "syslog" and isinstance(parser, LineDict):
        pop(options, "parser")
        if parser.get("type", "syslog") != "syslog":
            raise ConfigError(parser.located("parse").child("type"), "the syslog input parses syslog itself; "
                              "only <parse> @type syslog with message_format is supported")
        parser.pop("type", None)
        if str(parser.pop("with_priority", "true")).lower() != "true":
            raise ConfigError(parser.located("parse"), "with_priority false is not supported: messages carry <PRI>")
        merge(options, parser)
