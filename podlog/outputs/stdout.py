"""Write records to standard output, one JSON document per line."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podlog.config.options import Option
from podlog.document import leading_timestamp
from podlog.outputs._base import Chunk, Output, Result

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.yaml_loader import LineDict

__all__ = ["StdoutOutput"]


class StdoutOutput(Output):
    """For debugging and for sidecars whose stdout the node agent collects."""

    name = "stdout"

    class Options(Output.Options):
        format = Option("str", "json", doc="json: one document per line; fluentd: '<time> <tag>: <json>' like "
                        "Fluentd's stdout output.", choices=("json", "fluentd"))

    options: Options

    @classmethod
    def fluentd(cls, options: LineDict, section: FluentdSection) -> None:
        """Fluentd's stdout prints ``<time> <tag>: <record>`` unless told ``format json``: a fluent.conf gets
        that look (podlog's ``fluentd`` format), not podlog's bare JSON lines, so the tag stays visible."""
        from podlog.config.errors import ConfigError, Located
        from podlog.config.fluentd_plugin import put

        fmt = options.get("format")
        if fmt is None:
            put(options, "format", "fluentd", section.line)
            return
        kind = fmt.get("type", "stdout") if isinstance(fmt, Mapping) else fmt
        if kind not in ("json", "stdout") or (isinstance(fmt, Mapping) and set(fmt) - {"type"}):
            raise ConfigError(Located(options.file, options.key_lines["format"], "format"),
                              "stdout prints with @type stdout (time tag: record) or json (record only)")
        options["format"] = "json" if kind == "json" else "fluentd"

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        self._lock = threading.Lock()

    def write(self, chunk: Chunk) -> Result:
        docs = chunk.docs()
        if self.options.format == "fluentd":
            now = time.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000", time.gmtime()).encode()
            tag = b" " + chunk.tag.encode() + b": "
            body = b"".join(_event_time(d, now) + tag + d + b"\n" for d in docs)
        else:
            body = b"\n".join(docs) + b"\n"
        try:
            with self._lock:
                sys.stdout.buffer.write(body)
                sys.stdout.buffer.flush()
        except BrokenPipeError:
            return Result.retry("stdout is closed")
        return Result.ok()


def _event_time(doc: bytes, now: bytes) -> bytes:
    """Fluentd prints the event's time, ``2024-05-01 12:00:00.100000000 +0000``: from a record's leading
    RFC 3339 ``@timestamp``, else the flush time."""
    ts = leading_timestamp(doc)
    if ts is None:
        return now
    if ts.endswith(b"Z"):
        clock, zone = ts[:-1], b"+0000"
    elif ts[-6:-5] in (b"+", b"-") and ts[-3:-2] == b":":
        clock, zone = ts[:-6], ts[-6:-3] + ts[-2:]
    else:
        return now
    if len(clock) < 19 or clock[10:11] != b"T":
        return now
    fraction = clock[20:] if clock[19:20] == b"." else b""
    return clock[:10] + b" " + clock[11:19] + b"." + (fraction + b"000000000")[:9] + b" " + zone
