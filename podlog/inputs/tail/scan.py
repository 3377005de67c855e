"""Which files match: glob paths minus exclude patterns."""

from __future__ import annotations

import fnmatch
import glob
import os

__all__ = ["matches", "scan", "watch_dirs"]


def _excluded(path: str, excludes: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, ex) or fnmatch.fnmatch(os.path.basename(path), ex) for ex in excludes)


def matches(path: str, patterns: list[str], excludes: list[str]) -> bool:
    """Whether a path a directory event named is one ``scan`` would find (without a stat: it may be gone)."""
    return any(fnmatch.fnmatch(path, p) for p in patterns) and not _excluded(path, excludes)


def scan(patterns: list[str], excludes: list[str]) -> list[str]:
    """Regular files (or symlinks to them) matching any pattern and no exclude, sorted."""
    found: set[str] = set()
    for pattern in patterns:
        for path in glob.glob(pattern, recursive="**" in pattern):
            if _excluded(path, excludes):
                continue
            if os.path.isfile(path):
                found.add(path)
    return sorted(found)


def watch_dirs(patterns: list[str]) -> set[str]:
    """The fixed directory part of each pattern: where new files would appear."""
    dirs = set()
    for pattern in patterns:
        directory = os.path.dirname(pattern)
        while glob.has_magic(directory):
            directory = os.path.dirname(directory)
        dirs.add(directory or ".")
    return dirs
