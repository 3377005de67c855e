"""Fluentd's config syntax (fluent.conf) read into a tree of sections.

Users bring their fluent.conf; this module only understands its syntax, and
``podlog.config.fluentd`` maps the tree onto podlog's model. Every section
and parameter keeps its file and line, so errors found much later (an
unknown option, a bad duration) still point at the right fluent.conf line.

What is read, as Fluentd reads it:

* ``<name arg>`` ... ``</name>`` sections, nested to any depth;
* ``key value`` parameters, the value being the rest of the line;
  ``"double"`` quotes (escapes, line continuation, embedded code) and
  ``'single'`` quotes; JSON arrays and hashes, possibly over several lines;
* ``#`` comments at the start of a line or after whitespace, never in quotes;
* ``@include path`` relative to the including file, with globs;
* embedded Ruby in double quotes, only for the environment lookups configs
  use in Kubernetes (``"#{ENV['X']}"``); anything else is refused, since we
  will not run Ruby.
"""

from __future__ import annotations

import bisect
import glob
import json
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podlog.config.errors import ConfigError, Located

__all__ = ["ROOT", "Element", "Param", "parse_fluentd"]

ROOT = "ROOT"

_KEY = re.compile(r"\S+")
_TAG = re.compile(r"([A-Za-z0-9_.\-]+)(?:\s+(.*))?$", re.S)
_COMMENT = re.compile(r"(?:^|[ \t])#")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "r": "\r", "n": "\n", "t": "\t",
            "f": "\f", "b": "\b", "v": "\v", "a": "\a", "e": "\x1b", "s": " "}
_QUOTED = r"""(?:'([^'\\]*)'|"([^"\\]*)")"""
_ENV_INDEX = re.compile(rf"ENV\[\s*{_QUOTED}\s*\](?:\s*\|\|\s*{_QUOTED})?")
_ENV_FETCH = re.compile(rf"ENV\.fetch\(\s*{_QUOTED}\s*(?:,\s*{_QUOTED}\s*)?\)")
# ENV['X'] || true: a bare Ruby literal as the default (fluentd-kubernetes-daemonset's verify_ssl)
_ENV_BARE = re.compile(rf"ENV\[\s*{_QUOTED}\s*\]\s*\|\|\s*(true|false|[0-9]+)")
# fluentd-kubernetes-daemonset's kubernetes_url: ENV['X'] || https://<KUBERNETES_SERVICE_HOST>:<PORT>/api
_ENV_IN_CLUSTER_URL = re.compile(rf"ENV\[\s*{_QUOTED}\s*\]\s*\|\|\s*\(\s*host\s*=\s*ENV\.fetch\("
                                 r"'KUBERNETES_SERVICE_HOST'\);\s*port\s*=\s*ENV\.fetch\('KUBERNETES_SERVICE_PORT'\);"
                                 r".*'https://'\s*\+\s*host\s*\+\s*':'\s*\+\s*port\s*\+\s*'/api'\s*\)")
_CLOSERS = {"[": "]", "{": "}"}


@dataclass
class Param:
    """One ``key value`` line."""

    key: str
    value: Any  # str, or list/dict for a JSON value
    file: str
    line: int


@dataclass
class Element:
    """One ``<name arg>`` section (or the file itself, named ROOT)."""

    name: str
    arg: str
    file: str
    line: int
    params: dict[str, Param] = field(default_factory=dict)
    elements: list[Element] = field(default_factory=list)

    @property
    def tag(self) -> str:
        """The section as the user wrote it, for messages: ``<match **>``."""
        return f"<{self.name} {self.arg}>" if self.arg else f"<{self.name}>"

    def located(self, path: str) -> Located:
        return Located(self.file, self.line, path, {k: p.line for k, p in self.params.items()})


def parse_fluentd(text: str, file: str, env: Mapping[str, str] | None = None) -> Element:
    """Parse fluent.conf ``text`` (read from ``file``) into a ROOT element."""
    root = Element(ROOT, "", file, 1)
    scanner = _Scanner(text, file, os.environ if env is None else env, (os.path.realpath(file),), None)
    scanner.parse_body(root, None)
    return root


class _Scanner:
    """Reads one file's text into an element; ``@include`` starts another scanner."""

    def __init__(
        self, text: str, file: str, env: Mapping[str, str], chain: tuple[str, ...], foreign: Element | None
    ) -> None:
        self.text = text.replace("\r\n", "\n")
        self.file = file
        self.env = env
        self.chain = chain  # real paths of the files including this one: cycle protection
        self.foreign = foreign  # a section of another file we are included into
        self.pos = 0
        self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    # -- positions and errors

    def line_at(self, pos: int) -> int:
        return bisect.bisect_right(self._starts, pos)

    def error(self, message: str, pos: int | None = None) -> ConfigError:
        return ConfigError(Located(self.file, self.line_at(self.pos if pos is None else pos), ""), message)

    def eof(self) -> bool:
        return self.pos >= len(self.text)

    def line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return len(self.text) if end < 0 else end

    def skip_spacing(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r":
            self.pos += 1

    def skip_blank(self) -> None:
        """Skip empty lines and whole-line comments."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r\n":
                self.pos += 1
            elif char == "#":
                self.pos = self.line_end(self.pos)
            else:
                return

    def finish_line(self, after: str) -> None:
        """Only spacing or a comment may follow ``after`` on its line."""
        self.skip_spacing()
        end = self.line_end(self.pos)
        rest = self.text[self.pos:end]
        if rest and not rest.startswith("#"):
            raise self.error(f"unexpected {rest.strip()!r} after {after}")
        self.pos = end

    # -- structure

    def parse_body(self, element: Element, closing: str | None) -> None:
        """Read params and sections into ``element`` until ``</closing>`` (or the end of the file)."""
        while True:
            self.skip_blank()
            if self.eof():
                if closing is not None:
                    raise ConfigError(element.located(""), f"{element.tag} is not closed (missing </{closing}>)")
                return
            if self.text.startswith("</", self.pos):
                self.close(element, closing)
                return
            if self.text[self.pos] == "<":
                element.elements.append(self.element())
            else:
                self.param(element)

    def close(self, element: Element, closing: str | None) -> None:
        start = self.pos
        end = self.text.find(">", start, self.line_end(start))
        if end < 0:
            raise self.error("missing '>' in closing tag")
        name = self.text[start + 2:end].strip()
        if closing is None:
            raise self.error(f"</{name}> closes no open section", start)
        if name != closing:
            raise self.error(f"</{name}> does not match {element.tag} opened at line {element.line}", start)
        self.pos = end + 1
        self.skip_spacing()
        # Lenient: "</source><label @X>" on one line (pasted configs often lose a newline).
        if not self.text.startswith("<", self.pos):
            self.finish_line(f"</{name}>")

    def element(self) -> Element:
        start = self.pos
        end = self.text.find(">", start, self.line_end(start))
        if end < 0:
            raise self.error("missing '>' at the end of the section tag")
        m = _TAG.match(self.text[start + 1:end].strip())
        if not m:
            raise self.error(f"invalid section tag {self.text[start:end + 1]!r}")
        child = Element(m.group(1), (m.group(2) or "").strip(), self.file, self.line_at(start))
        self.pos = end + 1
        self.finish_line(child.tag)
        self.parse_body(child, child.name)
        return child

    def param(self, element: Element) -> None:
        start = self.pos
        m = _KEY.match(self.text, self.pos)
        assert m is not None  # skip_blank left us on a non-space character
        key = m.group(0)
        self.pos = m.end()
        self.skip_spacing()
        value = self.value()
        line = self.line_at(start)
        if key == "@include":
            self.include(element, value, start)
            return
        if element is self.foreign:
            raise self.error(f"{key}: an @include inside {element.tag} may only hold sections, not parameters", start)
        if key in element.params:
            first = element.params[key].line
            raise self.error(f"{key}: duplicate parameter (first set at line {first})", start)
        element.params[key] = Param(key, value, self.file, line)

    # -- values

    def value(self) -> Any:
        char = self.text[self.pos:self.pos + 1]
        if char == '"':
            text = self.double_quoted()
            self.finish_line("the quoted value")
            return text
        if char == "'":
            text = self.single_quoted()
            self.finish_line("the quoted value")
            return text
        if char in ("[", "{"):
            return self.json_or_plain()
        return self.plain()

    def plain(self) -> str:
        """Rest of the line; ``#`` after whitespace starts a comment."""
        end = self.line_end(self.pos)
        text = self.text[self.pos:end]
        comment = _COMMENT.search(text)
        if comment:
            text = text[:comment.start()]
        self.pos = end
        return text.rstrip(" \t\r")

    def single_quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            char = self.text[self.pos:self.pos + 1]
            if char in ("", "\n"):
                raise self.error("unclosed single-quoted string", start)
            two = self.text[self.pos:self.pos + 2]
            if two in ("\\'", "\\\\"):
                out.append(two[1])
                self.pos += 2
                continue
            self.pos += 1
            if char == "'":
                return "".join(out)
            out.append(char)

    def double_quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            char = self.text[self.pos:self.pos + 1]
            if char == "":
                raise self.error("unclosed double-quoted string", start)
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\":
                out.append(self.escape())
            elif self.text.startswith("#{", self.pos):
                out.append(self.embedded())
            else:
                out.append(char)
                self.pos += 1

    def escape(self) -> str:
        nxt = self.text[self.pos + 1:self.pos + 2]
        self.pos += 2
        if nxt == "\n":  # line continuation
            return ""
        if nxt in _ESCAPES:
            return _ESCAPES[nxt]
        if nxt == "" or nxt.isalnum():
            # Fluentd refuses these too; regexes in double quotes need \\d.
            raise self.error(f"unknown escape '\\{nxt}' in a double-quoted string (write '\\\\{nxt}' or use "
                             "single quotes)", self.pos - 2)
        return nxt

    def embedded(self) -> str:
        """``#{...}``: find the matching brace (Ruby strings may hold quotes), then evaluate."""
        start = self.pos
        pos = start + 2
        depth = 1
        while depth:
            char = self.text[pos:pos + 1]
            if char in ("", "\n"):
                raise self.error("unclosed '#{' in a double-quoted string", start)
            if char in ("'", '"'):
                close = self.text.find(char, pos + 1, self.line_end(pos))
                if close < 0:
                    raise self.error("unclosed string inside '#{...}'", start)
                pos = close
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
            pos += 1
        self.pos = pos
        return self.ruby(self.text[start + 2:pos - 1].strip(), start)

    def ruby(self, code: str, pos: int) -> str:
        """The few embedded Ruby forms Kubernetes configs use; we do not run Ruby."""
        m = _ENV_INDEX.fullmatch(code)
        if m:
            name, default = _either(m, 1) or "", _either(m, 3)
            return self.env.get(name, "" if default is None else default)  # Ruby: nil prints as ""
        m = _ENV_FETCH.fullmatch(code)
        if m:
            name, default = _either(m, 1) or "", _either(m, 3)
            if name in self.env:
                return self.env[name]
            if default is None:
                raise self.error(f"environment variable {name} is not set (ENV.fetch without a default)", pos)
            return default
        if code == "Socket.gethostname":
            return socket.gethostname()
        m = _ENV_BARE.fullmatch(code)
        if m:
            return self.env.get(_either(m, 1) or "", m.group(3))
        m = _ENV_IN_CLUSTER_URL.fullmatch(code)
        if m:
            return self._in_cluster_url(_either(m, 1) or "", pos)
        raise self.error(
            f"embedded Ruby '#{{{code}}}' is not supported; podlog only evaluates ENV['NAME'], "
            "ENV['NAME'] || 'default', ENV.fetch('NAME', 'default') and Socket.gethostname", pos)

    def _in_cluster_url(self, override: str, pos: int) -> str:
        """The API URL the fluentd-kubernetes-daemonset images compute (IPv6 hosts in brackets)."""
        if override in self.env:
            return self.env[override]
        for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
            if name not in self.env:
                raise self.error(f"environment variable {name} is not set (ENV.fetch without a default)", pos)
        host = self.env["KUBERNETES_SERVICE_HOST"]
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}:{self.env['KUBERNETES_SERVICE_PORT']}/api"

    def json_or_plain(self) -> Any:
        """A value starting with ``[``/``{``: JSON (maybe multi-line), else plain text like ``[%d/%b]``."""
        start = self.pos
        end, cleaned = self.balanced(start)
        multiline = "\n" in self.text[start:end]
        rest = self.text[end:self.line_end(end)].strip()
        if not multiline and rest and not rest.startswith("#"):
            return self.plain()
        try:
            value = json.loads(cleaned)
        except ValueError as exc:
            if not multiline:
                return self.plain()
            raise self.error(f"invalid JSON value: {getattr(exc, 'msg', exc)} (quote the value if it is not JSON)",
                             start) from None
        self.pos = end
        self.finish_line("the JSON value")
        return value

    def balanced(self, start: int) -> tuple[int, str]:
        """End of the bracketed value at ``start`` and its text without comments."""
        stack: list[str] = []
        out: list[str] = []
        pos = start
        while True:
            char = self.text[pos:pos + 1]
            if char == "":
                opener = self.text[start]
                raise self.error(f"'{opener}' is never closed; quote the value if it is not a JSON "
                                 f"{'array' if opener == '[' else 'hash'}", start)
            if char == '"':
                close = _json_string_end(self.text, pos)
                out.append(self.text[pos:close])
                pos = close
                continue
            if char == "#" and (pos == start or self.text[pos - 1] in " \t\n"):
                pos = self.line_end(pos)
                continue
            out.append(char)
            pos += 1
            if char in _CLOSERS:
                stack.append(_CLOSERS[char])
            elif stack and char == stack[-1]:
                stack.pop()
                if not stack:
                    return pos, "".join(out)

    # -- @include

    def include(self, element: Element, value: Any, pos: int) -> None:
        if not isinstance(value, str) or not value:
            raise self.error("@include needs a file path or glob", pos)
        if "://" in value:
            raise self.error("@include of a URL is not supported; mount the file and include its path", pos)
        base = Path(self.file).parent
        pattern = value if os.path.isabs(value) else str(base / value)
        # Fluentd includes glob matches in sorted order; no match is not an error.
        paths = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        for path in paths:
            self.include_file(element, path, pos)

    def include_file(self, element: Element, path: str, pos: int) -> None:
        real = os.path.realpath(path)
        if real in self.chain:
            cycle = " -> ".join([*self.chain[self.chain.index(real):], real])
            raise self.error(f"@include cycle: {cycle}", pos)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise self.error(f"@include {path}: cannot read: {exc.strerror}", pos) from None
        except UnicodeDecodeError:
            raise self.error(f"@include {path}: not UTF-8 text", pos) from None
        foreign = None if element.name == ROOT else element
        _Scanner(text, path, self.env, (*self.chain, real), foreign).parse_body(element, None)


def _either(m: re.Match[str], group: int) -> str | None:
    """The text of a quoted literal matched as ``'x'`` (group) or ``"x"`` (group + 1)."""
    first = m.group(group)
    return first if first is not None else m.group(group + 1)


def _json_string_end(text: str, pos: int) -> int:
    """Index after the JSON string starting at ``pos`` (or the end of the line if unclosed)."""
    i = pos + 1
    while i < len(text) and text[i] not in ('"', "\n"):
        i += 2 if text[i] == "\\" else 1
    return i + 1 if i < len(text) and text[i] == '"' else i
