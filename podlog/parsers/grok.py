"""The ``grok`` parser: ``%{PATTERN:field:type}`` expressions, as in Logstash and Fluentd.

The pattern library (``IPORHOST``, ``HTTPDATE``, ``COMBINEDAPACHELOG``,
``SYSLOGLINE``...) is read from the pattern files of the ``py3grok`` package
(Logstash's own set, ECS field names), located without importing it.
Expressions are turned into one Python regex each: Oniguruma's ``(?<name>)``,
POSIX classes and ``(?m)`` are translated; every capture gets a generated group
name, so the same field may appear in several alternatives and bracketed
names like ``[http][request][method]`` become nested fields.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher, converter, decode_lines, parse_types

__all__ = ["GrokParser", "compile_grok", "pattern_library"]

LIBRARY_PACKAGE = "py3grok"
_REFERENCE = re.compile(r"%\{(?P<pattern>\w+)(?::(?P<field>[^:}]*))?(?::(?P<type>[^:}]*))?\}")
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?P<name>[A-Za-z_@\[][^>]*)>")  # not (?<= or (?<!
_POSIX = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "digit": "0-9", "xdigit": "0-9A-Fa-f", "upper": "A-Z",
    "lower": "a-z", "space": r"\s", "blank": r" \t", "word": r"\w", "punct": r"!-/:-@\[-`{-~",
    "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}
_POSIX_NESTED = re.compile(r"(?<=\[)\[\[:(\w+):\]\]")  # [[[:alnum:]]_-] -> [a-zA-Z0-9_-]
_POSIX_ALONE = re.compile(r"\[\[:(\w+):\]\]")  # [[:alnum:]] -> [a-zA-Z0-9]
_POSIX_INNER = re.compile(r"\[:(\w+):\]")  # [^[:space:]] -> [^\s]
_HEX = re.compile(r"(?<!\\)\\h")  # Oniguruma's hex digit class
_MAX_DEPTH = 64


def read_patterns(text: str, into: dict[str, str]) -> dict[str, str]:
    """Pattern-file lines ``NAME regex`` into ``into``; comments and blank lines skipped."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, body = line.partition(" ")
        if body.strip():
            into[name] = body.strip()
    return into


@functools.lru_cache(maxsize=1)
def pattern_library() -> dict[str, str]:
    """Every pattern shipped by the library package; empty when it is not installed."""
    spec = importlib.util.find_spec(LIBRARY_PACKAGE)
    patterns: dict[str, str] = {}
    if spec is None or not spec.submodule_search_locations:
        return patterns
    for location in spec.submodule_search_locations:
        folder = Path(location) / "patterns"
        if folder.is_dir():
            for file in sorted(folder.iterdir()):
                if file.is_file():
                    read_patterns(file.read_text(encoding="utf-8", errors="replace"), patterns)
    return patterns


def _translate(regex: str) -> tuple[str, int]:
    """Oniguruma spellings Python's re lacks; returns the regex and flags to compile it with."""
    regex = _POSIX_NESTED.sub(lambda m: _POSIX.get(m.group(1), m.group(0)), regex)
    regex = _POSIX_ALONE.sub(lambda m: f"[{_POSIX[m.group(1)]}]" if m.group(1) in _POSIX else m.group(0), regex)
    regex = _POSIX_INNER.sub(lambda m: _POSIX.get(m.group(1), m.group(0)), regex)
    regex = _HEX.sub("[0-9A-Fa-f]", regex).replace(r"\z", r"\Z")
    if sys.version_info < (3, 11):  # no atomic groups before 3.11
        regex = regex.replace("(?>", "(?:")
    # Ruby's (?m) is Python's DOTALL; Python wants it global, at the start.
    stripped = regex.replace("(?m)", "")
    return stripped, (re.DOTALL if stripped != regex else 0)


def compile_grok(expression: str, library: dict[str, str]) -> tuple[re.Pattern[str], list[tuple[str, str, str]]]:
    """A grok expression as one regex, plus (group name, field, type) for every capture.

    ValueError explains an unknown pattern, a cycle or a regex Python rejects.
    """
    captures: list[tuple[str, str, str]] = []

    def capture(field: str, kind: str) -> str:
        group = f"_g{len(captures)}"
        captures.append((group, field.strip().rstrip("?"), kind.strip()))
        return group

    def expand(text: str, depth: int, trail: tuple[str, ...]) -> str:
        if depth > _MAX_DEPTH:
            raise ValueError(f"grok patterns nest too deeply: {' -> '.join(trail[-5:])}")
        text = _NAMED_GROUP.sub(lambda m: f"(?P<{capture(m.group('name'), '')}>", text)

        def reference(m: re.Match[str]) -> str:
            name = m.group("pattern")
            if name not in library:
                hint = "" if pattern_library() else f" (the pattern library comes from the {LIBRARY_PACKAGE} package)"
                raise ValueError(f"unknown grok pattern %{{{name}}}{hint}")
            if name in trail:
                raise ValueError(f"grok pattern %{{{name}}} refers to itself")
            body = expand(library[name], depth + 1, (*trail, name))
            if m.group("field"):
                return f"(?P<{capture(m.group('field'), m.group('type') or '')}>{body})"
            return f"(?:{body})"

        return _REFERENCE.sub(reference, text)

    regex, flags = _translate(expand(expression, 0, ()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set" in library classes
            return re.compile(regex, flags), captures
    except re.error as exc:
        raise ValueError(f"grok expression does not compile: {exc}") from None


def _field_path(field: str) -> tuple[str, ...] | None:
    """``[http][request][method]`` -> ("http", "request", "method"); a plain name -> None."""
    if field.startswith("[") and field.endswith("]"):
        parts = tuple(p for p in field[1:-1].split("][") if p)
        return parts or None
    return None


class GrokParser(Parser):
    """The first pattern that matches (searched, not anchored) gives the fields."""

    name: ClassVar[str] = "grok"

    class Options(Parser.Options, CommonOptions):
        pattern = Option(
            "str", "", aliases=("grok_pattern", "match"), doc="A grok expression, e.g. %{COMBINEDAPACHELOG}."
        )
        patterns = Option("list", [], doc="More expressions, tried in order after pattern.")
        grok = Option("any", [], doc="Fluentd's <grok> sections: a list of {pattern: ...}, tried after patterns.")
        custom_patterns = Option(
            "dict", {}, aliases=("pattern_definitions",),
            doc="Extra named patterns: {NAME: regex}; they override the library.",
        )
        custom_pattern_path = Option(
            "str", "", aliases=("patterns_dir",), doc="A pattern file, or a folder of them (NAME regex per line)."
        )
        keep_empty_captures = Option("bool", False, doc="Keep fields whose capture is an empty string.")
        grok_name_key = Option("str", "", doc="If set, this field gets the index of the expression that matched.")
        time_key = Option(
            "str", "timestamp", doc="Field holding the event time; it becomes @timestamp. Empty: no time."
        )

        def validate(self, given: set[str]) -> None:
            super().validate(given)
            if not any(e.strip() for e in [self.pattern, *self.patterns, *_sections(self)]):
                raise self.error("pattern", "a grok expression is needed (pattern or patterns)")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        expressions = [e for e in [options.pattern, *options.patterns, *_sections(options)] if e.strip()]
        library = dict(pattern_library())
        library.update(_custom_patterns(options))
        library.update({str(k): str(v) for k, v in options.custom_patterns.items()})
        self.compiled: list[tuple[Callable[[str], re.Match[str] | None], list[Any]]] = []
        for expression in expressions:
            try:
                regex, captures = compile_grok(expression, library)
                self.compiled.append((regex.search, self._specs(regex, captures, options)))
            except ValueError as exc:
                raise options.error("pattern", str(exc)) from None
        self.keep_empty: bool = options.keep_empty_captures
        self.name_key: str = options.grok_name_key
        self.finish = Finisher(options)

    @staticmethod
    def _specs(regex: re.Pattern[str], captures: list[tuple[str, str, str]], options: Any) -> list[Any]:
        """Per capture: (group index, field, nested path or None, converter or None)."""
        specs = []
        for group, field, kind in captures:
            convert = None
            if kind:
                (kind_name, arg), = parse_types({field: kind}).values()
                convert = converter(kind_name, arg, options)
            specs.append((regex.groupindex[group] - 1, field, _field_path(field), convert))
        return specs

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        compiled = self.compiled
        keep_empty = self.keep_empty
        name_key = self.name_key
        out: list[Parsed] = []
        append = out.append
        for line in decode_lines(messages):
            m = None
            index = 0
            for entry in compiled:
                m = entry[0](line)
                if m is not None:
                    break
                index += 1
            if m is None:
                append(ParseFailure("no grok pattern matched"))
                continue
            specs = entry[1]
            groups = m.groups()
            fields: dict[str, Any] = {}
            for i, field, path, convert in specs:
                value = groups[i]
                if value is None or (not value and not keep_empty):
                    continue
                if convert is not None:
                    try:
                        value = convert(value)
                    except (ValueError, TypeError, OverflowError):
                        pass
                if path is None:
                    fields.setdefault(field, value)  # the first capture of a name wins
                else:
                    _set_path(fields, path, value)
            if name_key:
                fields[name_key] = index
            append(fields)
        return self.finish(out) if self.finish.active else out


def _set_path(fields: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = fields
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if type(child) is not dict:
            return  # a plain value already holds this name
        node = child
    node.setdefault(path[-1], value)


def _sections(options: Any) -> list[str]:
    """Expressions from Fluentd-style ``<grok>`` sections (one mapping or a list of them)."""
    sections = options.grok if isinstance(options.grok, list) else [options.grok]
    out = []
    for section in sections:
        if not isinstance(section, dict) or not isinstance(section.get("pattern"), str):
            raise options.error("grok", "expected sections like {pattern: '%{...}'}")
        out.append(section["pattern"])
    return out


def _custom_patterns(options: Any) -> dict[str, str]:
    """Patterns from custom_pattern_path (a file, or every file of a folder)."""
    if not options.custom_pattern_path:
        return {}
    path = Path(options.custom_pattern_path)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    patterns: dict[str, str] = {}
    try:
        for file in files:
            read_patterns(file.read_text(encoding="utf-8", errors="replace"), patterns)
    except OSError as exc:
        raise options.error("custom_pattern_path", f"cannot read patterns: {exc}") from None
    return patterns
