"""Change notification: inotify when the kernel gives it, periodic polling otherwise.

The watcher only says *which* files may have changed and whether a directory
changed (a new file may exist); the tail loop decides what to do. Polling is
also the safety net with inotify (every ``stat_interval``), since inotify
misses changes made through some mounts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

__all__ = ["Activity", "Watcher"]

log = logging.getLogger("podlog.tail")


@dataclass
class Activity:
    files: set[str] = field(default_factory=set)   # realpaths with events
    rescan: bool = False                            # a watched directory changed
    # names that came or went in a watched directory, in order: ("new", path) for a create or a move
    # in, ("moved", old path, new path) for a rename within watched directories, ("gone", path)
    names: list[tuple[str, ...]] = field(default_factory=list)


class Watcher:
    """Wraps inotify_simple; ``available`` is False when inotify cannot be used."""

    def __init__(self, use_inotify: bool = True) -> None:
        self._ino = None
        self._wd_file: dict[int, str] = {}
        self._file_wd: dict[str, int] = {}
        self._wd_dir: dict[int, str] = {}
        self._dir_wd: dict[str, int] = {}
        if use_inotify:
            try:
                from inotify_simple import INotify, flags

                self._ino = INotify()
                self._flags = flags
            except (ImportError, OSError) as exc:
                log.warning("inotify unavailable (%s): polling files instead", exc)

    @property
    def available(self) -> bool:
        return self._ino is not None

    def watch_file(self, realpath: str) -> None:
        if self._ino is None or realpath in self._file_wd:
            return
        f = self._flags
        mask = f.MODIFY | f.ATTRIB | f.MOVE_SELF | f.DELETE_SELF | f.CLOSE_WRITE
        try:
            wd = self._ino.add_watch(realpath, mask)
        except OSError as exc:  # ENOSPC: max_user_watches reached; polling still covers it
            log.warning("cannot watch %s (%s): polled instead", realpath, exc)
            return
        self._wd_file[wd] = realpath
        self._file_wd[realpath] = wd

    def unwatch_file(self, realpath: str) -> None:
        wd = self._file_wd.pop(realpath, None)
        if wd is not None and self._ino is not None:
            self._wd_file.pop(wd, None)
            try:
                self._ino.rm_watch(wd)
            except OSError:
                pass  # the kernel already dropped it (file deleted)

    def watch_dir(self, directory: str) -> None:
        if self._ino is None or directory in self._dir_wd or not os.path.isdir(directory):
            return
        f = self._flags
        try:
            wd = self._ino.add_watch(directory, f.CREATE | f.MOVED_TO | f.MOVED_FROM | f.DELETE)
        except OSError as exc:
            log.warning("cannot watch directory %s (%s): rescans are periodic", directory, exc)
            return
        self._wd_dir[wd] = directory
        self._dir_wd[directory] = wd

    def wait(self, timeout: float) -> Activity:
        """Block up to ``timeout`` seconds for events; returns what changed."""
        activity = Activity()
        if self._ino is None:
            import time

            time.sleep(timeout)
            return activity
        moved_from: dict[int, str] = {}  # cookie -> old path, until its MOVED_TO
        for event in self._ino.read(timeout=int(timeout * 1000), read_delay=None):
            path = self._wd_file.get(event.wd)
            if event.mask & self._flags.Q_OVERFLOW:  # events were lost: look at everything
                activity.rescan = True
            elif path is not None:
                activity.files.add(path)
                if event.mask & (self._flags.IGNORED | self._flags.DELETE_SELF):
                    self._wd_file.pop(event.wd, None)
                    self._file_wd.pop(path, None)
            elif event.wd in self._wd_dir:
                activity.rescan = True
                if event.mask & self._flags.IGNORED:
                    self._dir_wd.pop(self._wd_dir.pop(event.wd), None)
                elif event.name:
                    self._named(activity, os.path.join(self._wd_dir[event.wd], event.name), event, moved_from)
        activity.names.extend(("gone", p) for p in moved_from.values())  # moved out of watched directories
        return activity

    def _named(self, activity: Activity, path: str, event: object, moved_from: dict[int, str]) -> None:
        """A name changed in a watched directory: the file it named (if followed) must be looked at now,
        and a file born and renamed between two looks is still found through its moves."""
        f = self._flags
        mask, cookie = event.mask, event.cookie  # type: ignore[attr-defined]
        activity.files.add(path)
        if mask & f.MOVED_FROM:
            moved_from[cookie] = path
        elif mask & f.MOVED_TO:
            old = moved_from.pop(cookie, None)
            activity.names.append(("new", path) if old is None else ("moved", old, path))
        elif mask & f.CREATE:
            activity.names.append(("new", path))
        else:
            activity.names.append(("gone", path))

    def close(self) -> None:
        if self._ino is not None:
            self._ino.close()
            self._ino = None
