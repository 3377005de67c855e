"""Dead-letter file: where records go when an output gives them up, with the reason.

One NDJSON line per record: ``{"time","output","reason","tag","record"}``;
``record`` is the document as it would have been sent. Lines are appended and
fsynced before the chunk is released, so a record is never both gone from the
buffer and missing from here. Without a path (no ``data_dir``), records are
logged at ERROR on the ``podlog.deadletter`` logger instead: loud, not silent.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import orjson

__all__ = ["DeadLetter"]

log = logging.getLogger("podlog.deadletter")


class DeadLetter:
    def __init__(self, output: str, path: str) -> None:
        self.output = output
        self.path = path
        self._lock = threading.Lock()

    def write(self, tag: str, items: list[tuple[bytes, str]]) -> bool:
        """Append the records; False if they could not be stored (the caller counts them as lost)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        lines = [self._line(now, tag, doc, reason) for doc, reason in items]
        if not self.path:
            for line in lines:
                log.error("%s", line.decode(errors="replace"))
            return True
        try:
            with self._lock:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                with open(self.path, "ab") as f:
                    f.write(b"".join(lines))
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as exc:
            log.error("cannot write dead-letter file %s (%s): %d records of output %s are lost",
                      self.path, exc.strerror, len(items), self.output)
            return False
        return True

    def _line(self, now: str, tag: str, doc: bytes, reason: str) -> bytes:
        try:
            record: object = orjson.Fragment(doc) if doc[:1] in (b"{", b"[") else doc.decode(errors="replace")
        except AttributeError:  # older orjson without Fragment
            record = orjson.loads(doc)
        entry = {"time": now, "output": self.output, "reason": reason, "tag": tag, "record": record}
        return orjson.dumps(entry) + b"\n"
