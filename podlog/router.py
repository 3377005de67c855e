"""Fluentd tag patterns: ``*`` one part, ``**`` zero or more parts, ``{a,b}`` alternatives.

Patterns compile to one regex; a route table caches tag -> destinations, so the
match cost is paid once per distinct tag, not per batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Generic, TypeVar

__all__ = ["Router", "TagPattern"]

T = TypeVar("T")


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            # "a.**" matches "a" too: the dot before ** is optional.
            if out and out[-1] == r"\.":
                out[-1] = r"(?:\..*)?"
            else:
                out.append(r".*")
            i += 2
            if i < n and pattern[i] == ".":
                out.append(r"(?:(?<=^)|\.)?" if not out or out[-1] == r".*" else r"\.")
                i += 1
            continue
        if c == "*":
            out.append(r"[^.]*")
        elif c == "{":
            end = pattern.find("}", i)
            if end < 0:
                raise ValueError(f"unclosed '{{' in tag pattern {pattern!r}")
            alts = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_translate(a) for a in alts) + ")")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class TagPattern:
    """One match pattern, or several separated by spaces (Fluentd: ``<match a.** b.*>``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        parts = text.split()
        if not parts:
            raise ValueError("empty tag pattern")
        self._re = re.compile("|".join(f"(?:{_translate(p)})" for p in parts) + r"\Z")

    def match(self, tag: str) -> bool:
        return self._re.match(tag) is not None

    def __repr__(self) -> str:
        return f"TagPattern({self.text!r})"


class Router(Generic[T]):
    """Ordered (pattern, target) routes with a per-tag cache.

    ``first`` gives Fluentd's ``<match>`` semantics (first match wins);
    ``every`` gives ``<filter>`` semantics (all matching, in order).
    """

    def __init__(self, routes: Sequence[tuple[TagPattern, T]]) -> None:
        self._routes = list(routes)
        self._first: dict[str, T | None] = {}
        self._every: dict[str, list[T]] = {}

    def first(self, tag: str) -> T | None:
        try:
            return self._first[tag]
        except KeyError:
            found = next((t for p, t in self._routes if p.match(tag)), None)
            self._first[tag] = found
            return found

    def every(self, tag: str) -> list[T]:
        try:
            return self._every[tag]
        except KeyError:
            found = [t for p, t in self._routes if p.match(tag)]
            self._every[tag] = found
            return found
