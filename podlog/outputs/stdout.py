"""Write records to standard output, one JSON document per line."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from podlog.config.options import Option
from podlog.outputs._base import Chunk, Output, Result

__all__ = ["StdoutOutput"]


class StdoutOutput(Output):
    """For debugging and for sidecars whose stdout the node agent collects."""

    name = "stdout"

    class Options(Output.Options):
        format = Option("str", "json", doc="json: one document per line; fluentd: '<time> <tag>: <json>' like "
                        "Fluentd's stdout output.", choices=("json", "fluentd"))

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        self._lock = threading.Lock()

    def write(self, chunk: Chunk) -> Result:
        docs = chunk.docs()
        if self.options.format == "fluentd":
            prefix = time.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000 ", time.gmtime()).encode()
            prefix += chunk.tag.encode() + b": "
            body = b"".join(prefix + d + b"\n" for d in docs)
        else:
            body = b"\n".join(docs) + b"\n"
        try:
            with self._lock:
                sys.stdout.buffer.write(body)
                sys.stdout.buffer.flush()
        except BrokenPipeError:
            return Result.retry("stdout is closed")
        return Result.ok()
