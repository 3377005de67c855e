"""File descriptors: as many as the kernel allows, and what to do with matched files past that.

A node with 1,100 container logs and the usual ``ulimit -n 1024`` must not stop the agent: the soft limit
is raised to the hard one at start; if files still do not fit, the tail follows as many as fit (leaving
room for sockets and buffer files), lists the rest as waiting, and rotates: files read to their end
and idle give their descriptor to waiting ones, oldest unread first. Files that cannot be opened
(permissions) wait the same way and are retried every ``stat_interval``, not only at the rescan.
"""

from __future__ import annotations

import errno
import logging
import os

__all__ = ["OUT_OF_FDS", "Waiting", "fd_budget", "raise_fd_limit"]

log = logging.getLogger("podlog.tail")
OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return 1 << 16
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.info("raised the open files limit from %d to %d", soft, hard)
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit from %d to %d: %s", soft, hard, exc)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def fd_budget(limit: int) -> int:
    """Files the tail may hold open: the limit less a reserve for sockets, buffer chunks and the runtime."""
    reserve = max(24, min(128, limit // 4))
    return max(8, limit - reserve)


class Waiting:
    """Matched files not followed for now, with why; each reason logged once per file, counted."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}  # path -> "fds" (no descriptor left) or "unreadable"
        self._told: set[str] = set()     # files already logged as waiting for a descriptor (turns are quiet)

    def add(self, path: str, exc: OSError | None) -> None:
        reason = "fds" if exc is None or exc.errno in OUT_OF_FDS else "unreadable"
        if self.paths.get(path) == reason:
            return
        self.paths[path] = reason
        if reason == "unreadable":
            log.warning("cannot open %s (%s): retried every stat_interval, counted in "
                        "podlog_input_files_waiting{reason=\"unreadable\"}", path, exc.strerror if exc else "")
        elif path not in self._told:
            self._told.add(path)
            log.warning("no file descriptor left for %s: followed when one frees (%d files waiting, counted in "
                        "podlog_input_files_waiting{reason=\"fds\"})", path, self.count("fds"))

    def opened(self, path: str) -> None:
        if self.paths.pop(path, None) == "unreadable":
            log.info("%s is readable now: following it", path)

    def keep_only(self, paths: set[str]) -> None:
        """Forget files no glob matches any more."""
        for path in [p for p in self.paths if p not in paths]:
            del self.paths[path]
        self._told &= paths

    def count(self, reason: str) -> int:
        return sum(1 for r in self.paths.values() if r == reason)

    def oldest_first(self) -> list[str]:
        """Waiting files, least recently modified first (their unread lines are the oldest)."""
        def mtime(path: str) -> float:
            try:
                return os.stat(path).st_mtime
            except OSError:
                return float("inf")
        return sorted(self.paths, key=mtime)
