"""Which files match: glob paths minus exclude patterns."""

from __future__ import annotations

import fnmatch
import glob
import os
import time

__all__ = ["expand_time", "matches", "scan", "watch_dirs"]


def _excluded(path: str, excludes: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, ex) or fnmatch.fnmatch(os.path.basename(path), ex) for ex in excludes)


def matches(path: str, patterns: list[str], excludes: list[str], now: float | None = None) -> bool:
    """Whether a path a directory event named is one ``scan`` would find (without a stat: it may be gone)."""
    return any(fnmatch.fnmatch(path, expand_time(p, now)) for p in patterns) and not _excluded(path, excludes)


def expand_time(pattern: str, now: float | None = None) -> str:
    """strftime codes of a path (``/var/log/app-%Y%m%d.log``), expanded with the local time now, as
    Fluentd's in_tail does at every scan; ``%%`` is a literal percent sign."""
    return time.strftime(pattern, time.localtime(now)) if "%" in pattern else pattern


def scan(patterns: list[str], excludes: list[str], now: float | None = None) -> list[str]:
    """Regular files (or symlinks to them) matching any pattern (dated for ``now``) and no exclude, sorted."""
    found: set[str] = set()
    for pattern in patterns:
        pattern = expand_time(pattern, now)
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
        while glob.has_magic(directory) or "%" in directory:  # a dated directory changes: watch its parent
            directory = os.path.dirname(directory)
        dirs.add(directory or ".")
    return dirs
