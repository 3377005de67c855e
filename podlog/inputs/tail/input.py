"""The tail input: follow files, cut lines, decode envelopes, emit batches, commit after ack.

One thread runs the loop: wait for inotify (or a poll tick), read what
changed in 256 KiB reads, check rotation/truncation, rescan globs, save
positions. Each read of one file becomes one Batch whose ack moves that
file's Cursor, so a position is persisted only after every output has
acknowledged the records before it.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from podlog.batch import Ack, Batch
from podlog.codecs.container import LineCodec, detect_format
from podlog.codecs.framing import LineLimit
from podlog.codecs.multiline import build_multiline
from podlog.config.options import Option
from podlog.inputs._base import Emit, Input, Sampler
from podlog.inputs.tail.checkpoint import Checkpoints, Cursor, Entry
from podlog.inputs.tail.fds import Waiting, fd_budget, raise_fd_limit
from podlog.inputs.tail.follow import FINGERPRINT_BYTES, Followed, fingerprint, first_line_id
from podlog.inputs.tail.identity import PositionPurger, copy_of, next_window, rewritten, same_file
from podlog.inputs.tail.left import left_behind, renamed_away
from podlog.inputs.tail.sample import sampler_for
from podlog.inputs.tail.scan import matches, scan, watch_dirs
from podlog.inputs.tail.tailed import TailedFile
from podlog.inputs.tail.watch import Watcher

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.yaml_loader import LineDict

__all__ = ["TailInput"]

log = logging.getLogger("podlog.tail")
# One read is one batch: 256 KiB (~1,300 CRI lines) pays the per-batch costs (ack, ledger, buffer
# lock, flush hand-off) four times less often than 64 KiB did, and stays well under chunk_limit_size.
CHUNK = 256 * 1024
READS_PER_TURN = 4  # 1 MiB per file per turn, so one busy file cannot starve the others


class TailInput(Input):
    """Follows files matching globs, like ``tail -F`` with positions and acknowledgements."""

    name = "tail"

    @classmethod
    def fluentd(cls, options: LineDict, section: FluentdSection) -> None:
        """in_tail's form: see ``inputs.tail.fluentd`` (imported only for a fluent.conf)."""
        from podlog.inputs.tail.fluentd import translate

        translate(options, section)

    class Options(Input.Options):
        path = Option("list", doc="Glob patterns of files to follow (list, or comma-separated).", aliases=("paths",))
        exclude_path = Option("list", [], doc="Glob patterns of files to skip (full path or file name).")
        tag = Option("str", "tail", doc="Tag of the records; a '*' is replaced by the file path with / as dots.")
        pos_file = Option("str", "", doc="Where acknowledged positions are kept. Empty: positions are not kept.")
        read_from_head = Option("bool", False, doc="Read files found at start from the beginning, not the end. "
                                "Files appearing later are always read from the beginning.")
        refresh_interval = Option("duration", 60.0, doc="Rescan the globs this often (inotify also triggers "
                                  "rescans when a watched directory changes).")
        rotate_wait = Option("duration", 5.0, doc="Keep reading a rotated or deleted file this long after it "
                             "is left, for late writes.")
        stat_interval = Option("duration", 1.0, doc="Check every file for growth, rotation and truncation this "
                               "often (polling fallback and safety net).")
        inotify = Option("bool", True, doc="Use inotify when available; false polls only.")
        container_format = Option("str", "auto", doc="Log envelope: cri, docker (json-file), none (plain lines), "
                                  "or auto (detected per file from its first line).",
                                  choices=("auto", "cri", "docker", "none"))
        parser = Option("any", None, doc="Parse each message: a parser name (json, regex, ...) or a mapping "
                        "with type: and the parser's options. json lifts JSON object payloads into fields.")
        message_key = Option("str", "message", doc="Field holding the message when it is not parsed into fields.")
        path_key = Option("str", "", doc="Add the file path under this field (empty: not added).")
        kubernetes_metadata = Option("bool", True, doc="Add pod, namespace and container from kubelet's file "
                                     "names under 'kubernetes'.")
        max_line_size = Option("size", 1024 * 1024, doc="Longest line kept whole; longer lines are split or "
                               "truncated and marked in podlog.split / podlog.truncated.", min=1)
        max_line_action = Option("str", "split", doc="split or truncate lines over max_line_size.",
                                 choices=("split", "truncate"))
        partial_line_timeout = Option("duration", 5.0, doc="A last line without newline, or a CRI/docker fragment "
                                      "whose line has not ended, is emitted (marked incomplete) after waiting "
                                      "this long for its end.")
        checkpoint_interval = Option("duration", 1.0, doc="Persist acknowledged positions this often.")
        exit_on_eof = Option("bool", False, doc="Stop once every file is read to its end (batch jobs, benchmarks).")
        multiline = Option("any", None, doc="Join multiline events (stack traces) per stream, before the parser: "
                           "java, python, go, ruby, a list of them, or a mapping {type: regex, start, cont, "
                           "flush_timeout, max_lines, max_bytes}; see docs/multiline.md. An open event holds "
                           "the checkpoint at its first line.")

    options: Options

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        o = self.options
        if not o.path:
            raise o.error("path", "at least one path is required")
        self._parser = self._build_parser(o.parser)
        self.line_limit = LineLimit(o.max_line_size, o.max_line_action == "truncate")  # raw lines and joined fragments
        where = o._where
        self._multiline = build_multiline(o.multiline, where.child("multiline") if where else None)
        self.checkpoints = Checkpoints(o.pos_file or None)
        self.active: dict[str, TailedFile] = {}
        self.draining: list[TailedFile] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit | None = None
        self._watcher: Watcher | None = None
        self._finished = False
        self._rescan_soon = False  # a followed path went away: look for its successor at the next tick
        self._purger = PositionPurger(2 * o.refresh_interval + o.rotate_wait)
        self._waiting = Waiting()  # matched files not followed now: out of descriptors, or unreadable
        self._budget = 1 << 20     # files this input may hold open (set from the fd limit at run)
        self._died = False
        self.clock: Callable[[], float] = time.monotonic  # every timer's clock; tests/inputs/harness.py drives it
        self.read_bytes = 0
        self.read_records = 0

    # --- plugin lifecycle ----------------------------------------------------------

    def _build_parser(self, spec: Any) -> tuple[bool, Any]:
        """(lift_json, parse function or None) from the ``parser`` option."""
        if spec in (None, "", "none"):
            return False, None
        from podlog.parsers import build_parser

        where = self.options._where
        parser = build_parser(spec, where.child("parser") if where else None)
        if parser.name == "json" and (isinstance(spec, str) or set(spec) <= {"type", "@type"}):
            # Container payloads keep the envelope's time unless a time_key is asked for:
            # then every JSON object is spliced as it is (the fast path).
            return True, None
        return False, parser.parse

    def run(self, emit: Emit) -> None:
        self._emit = emit
        self._budget = fd_budget(raise_fd_limit())
        self._watcher = Watcher(self.options.inotify)
        self._thread = threading.Thread(target=self._guarded_loop, name=f"tail:{self.options.tag}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._watcher is not None:
            self._watcher.close()

    def finished(self) -> bool:
        return self._finished

    def healthy(self) -> bool:
        return not self._died

    def files_waiting(self) -> dict[str, int]:
        """Matched files not followed now, by reason (for the podlog_input_files_waiting metric)."""
        return {reason: self._waiting.count(reason) for reason in ("fds", "unreadable")}

    def commit(self) -> None:
        self.checkpoints.save()

    def lag_bytes(self) -> dict[str, int]:
        """Bytes on disk not yet acknowledged, per file path (for metrics)."""
        out = {}
        for tf in [*self.active.values(), *self.draining]:
            try:
                out[tf.f.path] = max(0, tf.f.size() - tf.cursor.committed)
            except OSError:
                pass
        return out

    # --- the loop --------------------------------------------------------------------

    def _guarded_loop(self) -> None:
        """A bug must not leave a live agent that reads nothing: it is logged and /healthz fails."""
        try:
            self._loop()
        except Exception:
            self._died = True
            log.exception("the tail thread of %s stopped on an unexpected error; /healthz now fails",
                          self.options.tag)

    def _loop(self) -> None:
        o = self.options
        watcher = self._watcher
        assert watcher is not None
        for d in watch_dirs(o.path):
            watcher.watch_dir(d)
        self._rescan(startup=True)
        self._rescan_soon = bool(self._waiting.paths)  # files wait: they are retried every stat_interval
        self.checkpoints.save()  # at once: an agent restarted every few seconds must still move forward
        next_scan = self.clock() + o.refresh_interval
        next_check = 0.0
        next_save = self.clock() + o.checkpoint_interval
        busy = True
        while not self._stop.is_set():
            activity = watcher.wait(0 if busy else min(o.stat_interval, o.checkpoint_interval))
            now = self.clock()
            if activity.names:
                self._follow_renamed(activity.names, now)
            if activity.rescan or now >= next_scan or (self._rescan_soon and now >= next_check):
                self._rescan(startup=False)
                # until a successor shows up (or the old file is done), keep looking at every tick
                self._rescan_soon = bool(self._waiting.paths) or any(
                    t.f.path not in self.active for t in self.draining)
                next_scan = now + o.refresh_interval
            check_all = now >= next_check or not watcher.available
            if check_all:
                next_check = now + o.stat_interval
            busy = self._turn(activity.files, check_all, now)
            if now >= next_save:
                self.checkpoints.save()
                next_save = now + o.checkpoint_interval
            if o.exit_on_eof and not busy and not self.draining and all(t.at_eof for t in self.active.values()):
                self._finish_eof()
                return
        self.checkpoints.save()

    def _turn(self, changed: set[str], check_all: bool, now: float) -> bool:
        """Read and check files; True if some file still has unread data."""
        busy = False
        for path, tf in list(self.active.items()):
            hinted = tf.realpath in changed or path in changed
            if check_all and not hinted and tf.at_eof and self._unchanged(path, tf):
                self._timers(tf, now)  # an idle file costs one stat per stat_interval
                continue
            if check_all or hinted or not tf.at_eof:
                busy |= self._read(tf)
                if check_all or hinted:
                    self._check(path, tf, now)
        for tf in list(self.draining):
            busy |= self._read(tf)
            self._drain_done(tf, now)
        return busy and not self._stop.is_set()

    # --- files -------------------------------------------------------------------------

    def _rescan(self, startup: bool) -> None:
        paths = scan(self.options.path, self.options.exclude_path)
        self._waiting.keep_only(set(paths))
        if self._waiting.count("fds"):
            self._make_room(self.clock())
        for path in self._opening_order([p for p in paths if p not in self.active]):
            # A path whose old file is still draining may name a new file already (rename, then create):
            # _add tells them apart by identity.
            self._add(path, startup)
        followed = {t.f.key for t in (*self.active.values(), *self.draining)}
        if startup:
            self._finish_left_behind()
            followed = {t.f.key for t in (*self.active.values(), *self.draining)}
        others = [p for p in paths if p not in self.active]  # the followed ones' identities are known: no stat
        self._purger.purge(self.checkpoints, followed, others, self.clock())

    def _follow_renamed(self, names: list[tuple[str, ...]], now: float) -> None:
        """Files renamed to names no glob matches before we read them (or before we looked at all):
        opened under their new name and read to their end, like a followed file that rotated."""
        o = self.options
        by_real = {tf.realpath: path for path, tf in self.active.items()}

        def origin_of(path: str) -> str | None:
            return path if matches(path, o.path, o.exclude_path) else by_real.get(path)

        for path, origin in renamed_away(names, origin_of, lambda p: matches(p, o.path, o.exclude_path)).items():
            self._adopt(path, origin, now, known_only=False)

    def _finish_left_behind(self) -> None:
        """At start: files that left their checkpointed path while we were down are read to their end."""
        followed = {t.f.key for t in (*self.active.values(), *self.draining)}
        for path, origin in left_behind(self.checkpoints.entries, followed):
            self._adopt(path, origin, self.clock(), known_only=True)

    def _adopt(self, path: str, origin: str, now: float, known_only: bool) -> None:
        """Read a file that left ``origin`` (now at ``path``) from its position, or its head if it was
        never seen, to its end; it then drains like any rotated file. ``known_only``: only if its saved
        position is its own (same first bytes), and only if something is left to read."""
        f = Followed.open(path)
        if f is None:
            return
        if any(t.f.key == f.key for t in (*self.active.values(), *self.draining)):
            f.close()  # already followed: it rotated under our eyes and drains already
            return
        size = f.size()
        fp_len, fp = fingerprint(f.fd)
        entry = self.checkpoints.lookup(f.key, origin, f.ino)
        if entry is not None and same_file(f, entry, size):
            f.pos = entry.offset
        elif known_only:
            f.close()
            return
        if known_only and f.pos >= size:
            f.close()  # read to its end before it left: its position is purged in time
            return
        f.path = origin  # its tag and metadata are those of the path it was written under
        self.checkpoints.set(f.key, Entry(origin, f.pos, fp_len, fp))
        tf = TailedFile(f, self.tag_for(origin), None, Cursor(self.checkpoints, f.key, f.pos), self.line_limit, now)
        tf.left_at = now
        self.draining.append(tf)
        log.info("%s left %s before it was read to its end: reading it from offset %d", path, origin, f.pos)

    def sampler(self, tag: str | None, path: str) -> Sampler | None:
        """Dry runs: sample lines through the codec a file at ``path`` would get (see tail/sample.py)."""
        return sampler_for(self.options, self.codec_for, self.tag_for, tag, path)

    def tag_for(self, path: str) -> str:
        """The tag of a file's records: ``*`` in the tag becomes the path with ``/`` as dots."""
        tag = self.options.tag
        if "*" in tag:
            tag = tag.replace("*", path.strip("/").replace("/", "."))
        return tag

    def _open_files(self) -> int:
        return len(self.active) + sum(1 for t in self.draining if t.f.fd >= 0)

    def _opening_order(self, paths: list[str]) -> list[str]:
        """Short of descriptors, files with unread bytes go first, least recently modified first."""
        if not self._waiting.count("fds"):
            return paths

        def unread_then_age(path: str) -> tuple[bool, float]:
            try:
                st = os.stat(path)
            except OSError:
                return True, 0.0
            entry = self.checkpoints.entries.get(f"{st.st_dev}:{st.st_ino}")
            return (entry is not None and entry.offset >= st.st_size), st.st_mtime
        return sorted(paths, key=unread_then_age)

    def _make_room(self, now: float) -> None:
        """Files read to their end, acknowledged and quiet give their descriptor to waiting ones; their
        position stays, and they are opened again in turn (rotation through more files than fit)."""
        wanted = self._waiting.count("fds") - (self._budget - self._open_files())
        for path, tf in list(self.active.items()):
            if wanted <= 0:
                break
            held = tf.codec is not None and tf.codec.held_from() is not None
            if (tf.at_eof and not tf.framer.unfinished and not held and tf.cursor.in_flight == 0
                    and now - tf.last_data >= self.options.stat_interval):
                del self.active[path]
                if self._watcher is not None:
                    self._watcher.unwatch_file(tf.realpath)
                tf.f.close()
                self._waiting.add(path, None)
                wanted -= 1

    def _add(self, path: str, startup: bool) -> TailedFile | None:
        if self._open_files() >= self._budget:
            self._waiting.add(path, None)
            return None
        f = Followed.try_open(path)
        if isinstance(f, OSError):
            if f.errno != errno.ENOENT:
                self._waiting.add(path, f)
            return None
        self._waiting.opened(path)
        if any(t.f.key == f.key for t in (*self.active.values(), *self.draining)):
            f.close()  # a rotated file we already follow, seen again under its new name
            return None
        size = f.size()
        fp_len, fp = fingerprint(f.fd)
        entry = self.checkpoints.lookup(f.key, path, f.ino)
        followed = (*self.active.values(), *self.draining)
        copied = None if entry is not None or startup else copy_of(f, size, fp_len, fp, followed, self.checkpoints)
        if entry is not None and same_file(f, entry, size):
            f.pos = entry.offset
        elif copied is not None:
            f.pos = copied[1]
            log.info("%s is a copy of %s (copytruncate): reading it from offset %d, what was not read yet",
                     path, copied[0], f.pos)
        elif startup and not self.options.read_from_head and not self.checkpoints.corrupt:
            f.pos = size
        else:
            f.pos = 0
        self.checkpoints.set(f.key, Entry(path, f.pos, fp_len, fp))
        tf = TailedFile(f, self.tag_for(path), None, Cursor(self.checkpoints, f.key, f.pos), self.line_limit,
                        self.clock())
        self.active[path] = tf
        if self._watcher is not None:
            self._watcher.watch_file(tf.realpath)
            self._watcher.watch_dir(os.path.dirname(tf.realpath))
        log.info("following %s from offset %d", path, f.pos)
        return tf

    @staticmethod
    def _unchanged(path: str, tf: TailedFile) -> bool:
        """Same file, same size, same mtime as at the last look: no write, rotation or truncation since."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        seen = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if seen == tf.seen:
            return True
        tf.seen = seen  # what follows reads at least up to this size
        return False

    def _timers(self, tf: TailedFile, now: float) -> None:
        """Time-driven work of a file: a last line without newline, multiline events past their timeout."""
        if tf.framer.unfinished and now - tf.last_data >= self.options.partial_line_timeout:
            self._flush_partial_line(tf)
        if tf.codec is not None and (tf.codec.has_fragments() or tf.fragments_since):
            self._expire_fragments(tf, now)
        self._expire_events(tf, now)

    def _expire_fragments(self, tf: TailedFile, now: float) -> None:
        """A CRI/docker fragment whose line did not end within partial_line_timeout is emitted, marked
        incomplete: its stream may have gone quiet while the other stream goes on, and it would hold the
        file's position (and its record) indefinitely."""
        assert tf.codec is not None
        held = tf.codec.held_fragments()
        since = tf.fragments_since
        for first in [f for f in since if f not in held.values()]:
            del since[first]  # its line ended
        stale = [stream for stream, first in held.items()
                 if now - since.setdefault(first, now) >= self.options.partial_line_timeout]
        if stale:
            docs: list[bytes] = []
            offs: list[int] = []
            tf.codec.flush_partials(docs, offs, stale)
            self._emit_batch(tf, docs, offs, tf.start)

    def _check(self, path: str, tf: TailedFile, now: float) -> None:
        state = tf.f.path_state()
        if state != "same":
            log.info("%s %s: finishing the old file", path, "rotated" if state == "moved" else "removed")
            self._rescan_soon = True  # removed often means renamed, the new file a moment away
            del self.active[path]
            if self._watcher is not None:  # a draining file is read every turn; its path's watch is the successor's
                self._watcher.unwatch_file(tf.realpath)
            tf.left_at = now
            self.draining.append(tf)
            if state == "moved":
                self._add(path, startup=False)
            return
        try:
            truncated = tf.f.truncated() or rewritten(tf.f, self.checkpoints.entries.get(tf.f.key))
        except OSError:
            return
        if truncated:
            log.info("%s truncated (copytruncate): reading from the start", path)
            entry = self.checkpoints.entries.get(tf.f.key)
            if entry is not None:  # so the copy, if it shows up, resumes where this file was read to
                tf.before_truncation = (entry.fp_len, entry.fp, tf.window, tf.start)
            tf.window = b""
            tf.source = None  # new content, new first line: new ids
            tf.seen, tf.at_eof = None, False  # read again at once: what the last look saw is behind us
            tf.f.pos = 0
            tf.framer.reset(0)
            if tf.codec is not None:
                tf.codec.reset()
            tf.cursor.reset()
            self._refresh_fingerprint(tf)
            return
        entry = self.checkpoints.entries.get(tf.f.key)
        if entry is not None and entry.fp_len < FINGERPRINT_BYTES and tf.f.pos > entry.fp_len:
            self._refresh_fingerprint(tf)
        self._timers(tf, now)

    def _refresh_fingerprint(self, tf: TailedFile) -> None:
        fp_len, fp = fingerprint(tf.f.fd)
        self.checkpoints.set(tf.f.key, Entry(tf.f.path, tf.cursor.committed, fp_len, fp))

    def _drain_done(self, tf: TailedFile, now: float) -> None:
        """Close a left file once read to its end, past rotate_wait, and forget it once all is acked."""
        self._expire_events(tf, now)
        if tf.f.fd >= 0 and tf.at_eof and tf.left_at is not None and now - tf.left_at >= self.options.rotate_wait:
            self._flush_partial_line(tf)
            self._flush_codec(tf)
            tf.deleted = os.fstat(tf.f.fd).st_nlink == 0
            tf.f.close()
        if tf.f.fd < 0 and tf.cursor.in_flight == 0:
            self.draining.remove(tf)
            if tf.deleted:
                self.checkpoints.forget(tf.f.key)
            # else: kept, so the file found again under its rotated name resumes at its end

    def _finish_eof(self) -> None:
        for tf in self.active.values():
            self._flush_partial_line(tf)
            self._flush_codec(tf)
        self.checkpoints.save()
        self._finished = True

    # --- reading ----------------------------------------------------------------------

    def _read(self, tf: TailedFile) -> bool:
        if tf.f.fd < 0:
            return False
        for _ in range(READS_PER_TURN):
            if self._stop.is_set():
                return False
            try:
                data = tf.f.read(CHUNK)
            except OSError as exc:
                log.warning("read error on %s: %s", tf.f.path, exc)
                return False
            if not data:
                tf.at_eof = True
                return False
            tf.at_eof = False
            tf.last_data = self.clock()
            self.read_bytes += len(data)
            self._consume(tf, data)
        return True

    def _codec(self, tf: TailedFile, first_line: bytes) -> LineCodec:
        return self.codec_for(tf.f.path, first_line, tf.realpath)

    def codec_for(self, path: str, first_line: bytes, realpath: str | None = None) -> LineCodec:
        """The envelope codec and parser of one file; public so ``podlog check --input`` decodes sample
        lines exactly as the loop would."""
        o = self.options
        fmt = o.container_format if o.container_format != "auto" else detect_format(first_line)
        fields: dict[str, Any] = {}
        if o.path_key:
            fields[o.path_key] = path
        pod_rules = None
        if o.kubernetes_metadata:
            from podlog.k8s.paths import metadata_from_path
            from podlog.k8s.tail_hook import from_pod

            meta = metadata_from_path(path) or metadata_from_path(realpath or path)
            if meta:
                # completed from the API (and the pod's podlog.io/multiline) when kubernetes_metadata runs
                fields["kubernetes"], pod_rules = from_pod(meta)
        lift, parse = self._parser
        # CRI/docker fragments joined obey the same limit as a raw line
        codec = LineCodec(fmt, fields, o.message_key, lift_json=lift, parse=parse, limit=self.line_limit)
        if self._multiline is not None:
            codec.multiline = self._multiline.assembler()
        if pod_rules is not None:
            codec.multiline = pod_rules.assembler()
        if codec.multiline is not None:
            codec.multiline.clock = self.clock
        return codec

    def _consume(self, tf: TailedFile, data: bytes) -> None:
        framed = tf.framer.push(data)
        if framed is None:
            if tf.framer.overlong():
                self._cut_long_line(tf)
            return
        buf, base = framed
        tf.window = next_window(tf.window, buf)
        lines = buf.split(b"\n")
        if tf.codec is None:
            tf.codec = self._codec(tf, lines[0])
        docs: list[bytes] = []
        offsets: list[int] = []
        tf.framer.decode_lines(tf.codec, lines, base, len(buf) > self.options.max_line_size, docs, offsets)
        self._emit_batch(tf, docs, offsets, tf.start)

    def _cut_long_line(self, tf: TailedFile) -> None:
        """A line still without newline outgrew max_line_size: emit what we have, marked."""
        if tf.codec is None:
            tf.codec = self._codec(tf, tf.framer.parts[0])
        docs: list[bytes] = []
        offs: list[int] = []
        tf.framer.cut(tf.codec, docs, offs)
        tf.window = b""  # no longer the bytes just before start
        self._emit_batch(tf, docs, offs, tf.start)

    def _flush_partial_line(self, tf: TailedFile) -> None:
        """Emit a last line that never got its newline (timeout, EOF in exit_on_eof, file left)."""
        taken = tf.framer.take_unfinished()
        if taken is None:
            return
        data, base = taken
        tf.window = b""
        if tf.codec is None:
            tf.codec = self._codec(tf, data)
        docs: list[bytes] = []
        offs: list[int] = []
        tf.framer.last_line(tf.codec, data, base, docs, offs)
        self._emit_batch(tf, docs, offs, tf.start)

    def _expire_events(self, tf: TailedFile, now: float) -> None:
        """Multiline events whose stream has been quiet for flush_timeout are emitted (the tail loop's clock)."""
        events = tf.codec.multiline if tf.codec is not None else None
        if events is not None and events.due(now):
            docs: list[bytes] = []
            offs: list[int] = []
            events.expire(tf.codec, now, docs, offs)  # type: ignore[arg-type]
            self._emit_batch(tf, docs, offs, tf.start)

    def _flush_codec(self, tf: TailedFile) -> None:
        if tf.codec is not None and tf.codec.held_from() is not None:
            docs: list[bytes] = []
            offs: list[int] = []
            tf.codec.flush_partials(docs, offs)
            self._emit_batch(tf, docs, offs, tf.start)

    def _emit_batch(self, tf: TailedFile, docs: list[bytes], offsets: list[int], end: int) -> None:
        held = tf.codec.held_from() if tf.codec is not None else None
        commit_to = end if held is None else min(end, held)
        token = tf.cursor.track(commit_to)
        cursor = tf.cursor
        ack = Ack(lambda _a: cursor.done(token))
        if not docs:
            ack.release()
            return
        self.read_records += len(docs)
        assert self._emit is not None
        self._emit(Batch(tf.tag, docs=docs, ack=ack, origin=tf.source or self._source(tf), offsets=offsets))

    @staticmethod
    def _source(tf: TailedFile) -> str:
        """``dev:inode:first-line-crc``: an inode reused by a later file must not give the same ids."""
        try:
            line_id, complete = first_line_id(tf.f.fd)
        except OSError:
            return tf.f.key
        source = f"{tf.f.key}:{line_id}"
        if complete:
            tf.source = source
        return source
