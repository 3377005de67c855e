"""The ``multi_format`` parser: several formats tried in order, the first that parses wins.

Fluentd DaemonSets read container logs of both runtimes with it: one
``<pattern>`` for docker's JSON lines, one for containerd's CRI lines
(fluent-plugin-multi-format-parser). Each pattern names its parser with
``format`` (``json``, ``/regex/``, any podlog parser) or ``@type`` and takes
that parser's options. A batch goes through the first parser whole; only the
lines it could not parse go on to the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from podlog.config.errors import Located
from podlog.config.options import Option
from podlog.config.yaml_loader import LineDict
from podlog.parsers._base import Parsed, ParseFailure, Parser

__all__ = ["MultiFormatParser"]


class MultiFormatParser(Parser):
    """Tries each ``pattern`` in order; a line no pattern parses is kept raw with the last failure."""

    name: ClassVar[str] = "multi_format"

    class Options(Parser.Options):
        pattern = Option("any", doc="The formats, in order: each a mapping with format (a parser name or "
                         "/regex/) or type, and that parser's options (<pattern> sections in fluent.conf).")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        from podlog.parsers import build_parser

        patterns = options.pattern if isinstance(options.pattern, list) else [options.pattern]
        where = options._where or Located("<config>", 0, "parser")
        self.parsers = [build_parser(_spec(p, options), where.child(f"pattern[{i}]")) for i, p in enumerate(patterns)]
        if not self.parsers:
            raise options.error("pattern", "at least one pattern is needed")

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        out: list[Parsed] = [ParseFailure("no pattern matched")] * len(messages)
        pending = list(range(len(messages)))
        for parser in self.parsers:
            if not pending:
                break
            results = parser.parse([messages[i] for i in pending])
            still = []
            for index, result in zip(pending, results, strict=True):
                out[index] = result
                if isinstance(result, ParseFailure):
                    still.append(index)
            pending = still
        return out


def _spec(pattern: Any, options: Any) -> Any:
    """A ``<pattern>`` as a parser spec: ``format json`` -> type json, ``format /re/`` -> regex expression."""
    if not isinstance(pattern, Mapping):
        raise options.error("pattern", f"each pattern is a mapping with format: or type:, got {pattern!r}")
    spec = LineDict(getattr(pattern, "file", "<config>"), getattr(pattern, "line", 0))
    spec.update(pattern)
    spec.key_lines.update(getattr(pattern, "key_lines", {}))
    fmt = spec.pop("format", None)
    if fmt is not None:
        if "type" in spec:
            raise options.error("pattern", "a pattern has either format or @type, not both")
        line = spec.key_lines.pop("format", spec.line)
        text = str(fmt)
        if len(text) > 1 and text[0] == text[-1] == "/":
            spec["type"], spec["expression"] = "regex", text
            spec.key_lines["expression"] = line
        else:
            spec["type"] = {"regexp": "regex"}.get(text, text)
        spec.key_lines["type"] = line
    return spec
