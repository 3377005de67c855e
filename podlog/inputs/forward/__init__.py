"""The ``forward`` input (Fluentd forward protocol): the plugin is ``server.ForwardInput``."""

from podlog.inputs.forward.server import ForwardInput

__all__ = ["ForwardInput"]
