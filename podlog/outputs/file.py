"""Write NDJSON files whose path is templated by tag and date."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podlog.config.options import Option
from podlog.outputs._base import Chunk, Output, Result

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.yaml_loader import LineDict

__all__ = ["FileOutput"]


class FileOutput(Output):
    """Appends each chunk to ``path``: ``{tag}`` is the tag, strftime codes (UTC) the flush date.

    A chunk is acknowledged once written to the OS (it survives the agent being
    killed); set ``fsync`` to also survive a power loss, at a cost per flush.
    """

    name = "file"

    class Options(Output.Options):
        path = Option("str", doc="File path template, e.g. /var/log/podlog/{tag}/%Y-%m-%d.ndjson.")
        fsync = Option("bool", False, doc="fsync after each chunk.")
        mkdir = Option("bool", True, doc="Create missing directories.")
        append = Option("bool", True, doc="Fluentd's append switch.", ignored="files are always appended to.")

    options: Options

    @classmethod
    def fluentd(cls, options: LineDict, section: FluentdSection) -> None:
        """The file output writes JSON lines: ``format json`` (or ``<format> @type json``) says just that."""
        from podlog.config.errors import ConfigError, Located

        if "format" not in options:
            return
        fmt = options.get("format")
        kind = fmt.get("type") if isinstance(fmt, Mapping) else fmt
        if kind != "json" or (isinstance(fmt, Mapping) and set(fmt) - {"type"}):
            raise ConfigError(Located(options.file, options.key_lines["format"], "format"),
                              f"the file output writes JSON lines only (format json); {kind!r} is not supported")
        del options["format"]

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        self._files: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _path(self, tag: str) -> str:
        path = self.options.path.replace("{tag}", tag).replace("${tag}", tag)
        if "%" in path:
            path = time.strftime(path, time.gmtime())
        return path

    def _open(self, path: str) -> Any:
        f = self._files.get(path)
        if f is None:
            if self.options.mkdir:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            if len(self._files) >= 64:  # date rollover or many tags: close the oldest
                self._files.pop(next(iter(self._files))).close()
            f = self._files[path] = open(path, "ab")  # noqa: SIM115
        return f

    def write(self, chunk: Chunk) -> Result:
        body = b"\n".join(chunk.docs()) + b"\n"
        path = self._path(chunk.tag)
        try:
            with self._lock:
                f = self._open(path)
                f.write(body)
                f.flush()
                if self.options.fsync:
                    os.fsync(f.fileno())
        except OSError as exc:
            with self._lock:
                stale = self._files.pop(path, None)
            if stale is not None:
                try:
                    stale.close()
                except OSError:
                    pass
            return Result.retry(f"cannot write {path}: {exc.strerror}")
        return Result.ok()

    def stop(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files.clear()
