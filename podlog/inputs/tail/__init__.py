"""The tail input: scan, watch, follow, checkpoint (see the modules)."""

from podlog.inputs.tail.input import TailInput

__all__ = ["TailInput"]
