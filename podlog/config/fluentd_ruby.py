"""The small subset of Ruby that fluent.conf files embed in ``"#{...}"``, evaluated without Ruby.

Fluentd evaluates embedded code with Ruby itself; podlog will not run Ruby,
but the stock Kubernetes configs (fluentd-kubernetes-daemonset) use a handful
of forms, and those are evaluated here exactly as Ruby would:

* literals: ``'text'``, ``"text"``, ``nil``, ``true``, ``false``, integers (``1``, ``-1``);
* ``ENV['NAME']`` (nil when unset), ``ENV.fetch('NAME')`` (an error when unset),
  ``ENV.fetch('NAME', default)``;
* ``File.join(a, b, ...)``, ``Socket.gethostname``, ``hostname``, ``worker_id``;
* ``use_default`` and ``use_nil``: the parameter is left unset (Fluentd: the
  option takes its default, or nil; podlog options have no nil, so both leave
  the option at podlog's default);
* ``a || b || ...``: the first value that is neither nil nor false. As in
  Ruby, what follows ``||`` is not evaluated once a value is found, so
  ``ENV['URL'] || <any Ruby>`` works when ``URL`` is set.

Anything else is refused with the code and what to do instead.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["USE_DEFAULT", "USE_NIL", "RubyError", "UnsetVariable", "evaluate", "to_s"]


class _Unset:
    """``use_default`` / ``use_nil``: the parameter they appear in is not set."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


USE_DEFAULT = _Unset("use_default")
USE_NIL = _Unset("use_nil")


class RubyError(ValueError):
    """Code outside the subset."""


class UnsetVariable(RubyError):
    """``ENV.fetch('NAME')`` of an unset variable: Ruby raises KeyError, Fluentd refuses the config."""


_SPACE = re.compile(r"\s*")
_STRING = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\#]|\\.|#(?!\{))*)\"""")
_INT = re.compile(r"-?[0-9]+(?![0-9A-Za-z_.])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False, "use_default": USE_DEFAULT,
                              "use_nil": USE_NIL}
_FUNCTIONS = ("ENV.fetch", "File.join")


def evaluate(code: str, env: Mapping[str, str]) -> Any:
    """The value of ``code``: str, int, bool, None, USE_DEFAULT or USE_NIL. Raises RubyError."""
    return _Evaluator(code, env).run()


def to_s(value: Any) -> str:
    """Ruby's ``to_s`` as string interpolation applies it: nil is empty, true is 'true'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _truthy(value: Any) -> bool:
    return value is not None and value is not False  # Ruby: "" and 0 are true


class _Evaluator:
    def __init__(self, code: str, env: Mapping[str, str]) -> None:
        self.code = code
        self.env = env
        self.pos = 0

    def run(self) -> Any:
        value = self.primary()
        while True:
            self.skip()
            if self.pos == len(self.code):
                return value
            if not self.code.startswith("||", self.pos):
                raise self.unsupported()
            if _truthy(value):
                return value  # Ruby does not evaluate the rest
            self.pos += 2
            value = self.primary()

    def skip(self) -> None:
        m = _SPACE.match(self.code, self.pos)
        assert m is not None
        self.pos = m.end()

    def unsupported(self) -> RubyError:
        return RubyError(f"'{self.code[self.pos:].strip()}' is outside the Ruby podlog evaluates")

    def primary(self) -> Any:
        self.skip()
        m = _STRING.match(self.code, self.pos)
        if m:
            self.pos = m.end()
            single, double = m.group(1), m.group(2)
            return _unescape(single if single is not None else double, single is not None)
        m = _INT.match(self.code, self.pos)
        if m:
            self.pos = m.end()
            return int(m.group(0))
        if self.code.startswith("ENV[", self.pos):
            self.pos += 4
            name = self.name_argument()
            self.expect("]")
            return self.env.get(name)
        m = _WORD.match(self.code, self.pos)
        if not m:
            raise self.unsupported()
        word = m.group(0)
        if word in _CONSTANTS:
            self.pos = m.end()
            return _CONSTANTS[word]
        if word in ("Socket.gethostname", "hostname"):
            self.pos = m.end()
            return socket.gethostname()
        if word == "worker_id":  # podlog is one process: Fluentd's worker 0
            self.pos = m.end()
            return self.env.get("SERVERENGINE_WORKER_ID", "0")
        if word in _FUNCTIONS and self.code.startswith("(", m.end()):
            self.pos = m.end() + 1
            return self.call(word)
        raise self.unsupported()

    def name_argument(self) -> str:
        start = self.pos
        value = self.primary()
        if not isinstance(value, str):
            self.pos = start
            raise RubyError(f"expected a variable name in quotes at '{self.code[start:].strip()}'")
        return value

    def expect(self, char: str) -> None:
        self.skip()
        if not self.code.startswith(char, self.pos):
            raise self.unsupported()
        self.pos += 1

    def arguments(self) -> list[Any]:
        args: list[Any] = []
        self.skip()
        if self.code.startswith(")", self.pos):
            self.pos += 1
            return args
        while True:
            args.append(self.argument())
            self.skip()
            if self.code.startswith(")", self.pos):
                self.pos += 1
                return args
            self.expect(",")

    def argument(self) -> Any:
        """An argument may itself be an ``a || b`` chain (without parentheses around it)."""
        value = self.primary()
        while True:
            self.skip()
            if not self.code.startswith("||", self.pos):
                return value
            self.pos += 2
            right = self.primary()
            value = value if _truthy(value) else right

    def call(self, function: str) -> Any:
        start = self.pos
        args = self.arguments()
        return _CALLS[function](self, args, self.code[start:self.pos - 1])


def _fetch(ev: _Evaluator, args: list[Any], text: str) -> Any:
    if not 1 <= len(args) <= 2 or not isinstance(args[0], str):
        raise RubyError(f"ENV.fetch({text}): expected ENV.fetch('NAME') or ENV.fetch('NAME', default)")
    if args[0] in ev.env:
        return ev.env[args[0]]
    if len(args) == 1:
        raise UnsetVariable(f"environment variable {args[0]} is not set (ENV.fetch without a default)")
    return args[1]


def _join(ev: _Evaluator, args: list[Any], text: str) -> str:
    """Ruby's File.join: parts joined by one '/', whatever slashes they already end or start with."""
    parts = []
    for arg in args:
        if not isinstance(arg, str):
            raise RubyError(f"File.join({text}): every part must be a string, got {to_s(arg) or 'nil'}")
        parts.append(arg)
    if not parts:
        return ""
    out = parts[0]
    for part in parts[1:]:
        if out.endswith("/") and part.startswith("/"):
            out += part.lstrip("/")
        elif out.endswith("/") or part.startswith("/"):
            out += part
        else:
            out += "/" + part
    return out


_CALLS: dict[str, Callable[[_Evaluator, list[Any], str], Any]] = {"ENV.fetch": _fetch, "File.join": _join}
_RUBY_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "s": " ", "e": "\x1b"}


def _unescape(text: str, single: bool) -> str:
    """Ruby string escapes: single quotes know only \\' and \\\\; double quotes the usual ones."""
    if "\\" not in text:
        return text
    if single:
        return re.sub(r"\\([\\'])", r"\1", text)
    return re.sub(r"\\(.)", lambda m: _RUBY_ESCAPES.get(m.group(1), m.group(1)), text)
