"""Files that left their path before the agent read them to their end, and where they went.

Two ways to lose a rotated file, and how each is found again:

- renamed faster than the agent looks (several rotations between two stats, or a glob that does not match
  rotated names, like kubelet's ``0.log`` -> ``0.log.<timestamp>``): the watched directory's create and
  move events are replayed in order, so a file born under a matched name is followed to the name it
  has now (``renamed_away``);
- renamed while the agent was down: every position whose file no longer sits at its path is looked for,
  by device and inode, in the directory it was in and, for a symlink, its target's directory
  (``left_behind``). The head fingerprint is checked by the caller before a byte is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from podlog.inputs.tail.checkpoint import Entry

__all__ = ["left_behind", "renamed_away"]


def renamed_away(names: Iterable[tuple[str, ...]], origin_of: Callable[[str], str | None],
                 matched: Callable[[str], bool]) -> dict[str, str]:
    """{current path: path it was matched under} of files renamed to names no glob matches.

    ``names`` are a watcher's events in order; ``origin_of`` says which path a file under this name was
    (or would be) followed as, None when none. Names a glob still matches are left to the rescan.
    """
    pending: dict[str, str] = {}
    for event in names:
        kind, path = event[0], event[1]
        if kind == "new":
            origin = origin_of(path)
            if origin is not None:
                pending[path] = origin
        elif kind == "moved":
            origin = pending.pop(path, None) or origin_of(path)
            if origin is not None:
                pending[event[2]] = origin
        else:
            pending.pop(path, None)
    return {path: origin for path, origin in pending.items() if not matched(path)}


def left_behind(entries: dict[str, Entry], followed: set[str]) -> list[tuple[str, str]]:
    """(path now, path checkpointed) of positioned files found beside their old path under another name."""
    wanted = {key: entry for key, entry in entries.items() if key not in followed}
    found: list[tuple[str, str]] = []
    listed: dict[str, dict[str, str]] = {}
    for key, entry in wanted.items():
        for directory in _homes(entry.path):
            if directory not in listed:
                listed[directory] = _identities(directory)
            path = listed[directory].get(key)
            if path is not None:
                found.append((path, entry.path))
                break
    return found


def _homes(path: str) -> list[str]:
    """The directory a file was in, and its symlink target's (kubelet keeps rotated files there)."""
    homes = [os.path.dirname(path) or "."]
    real = os.path.dirname(os.path.realpath(path))
    if real not in homes:
        homes.append(real)
    return homes


def _identities(directory: str) -> dict[str, str]:
    """{dev:inode: path} of the regular files in a directory (one listing per directory and start)."""
    out: dict[str, str] = {}
    try:
        with os.scandir(directory) as it:
            for item in it:
                try:
                    if item.is_file(follow_symlinks=False):
                        st = item.stat(follow_symlinks=False)
                        out[f"{st.st_dev}:{st.st_ino}"] = item.path
                except OSError:
                    continue
    except OSError:
        pass
    return out
