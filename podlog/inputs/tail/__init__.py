"""The tail input: scan, watch, follow, checkpoint (see the modules).

``TailInput`` is loaded on first use: the streaming sidecar imports ``follow`` and ``watch`` from this
package and must not pay for the codecs, parsers and config the input brings in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podlog.inputs.tail.input import TailInput

__all__ = ["TailInput"]


def __getattr__(name: str) -> Any:
    if name == "TailInput":
        from podlog.inputs.tail.input import TailInput

        return TailInput
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
