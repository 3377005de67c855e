"""Multiline events: the lines of one stack trace (or one user-defined event) joined into one record.

Assembly runs per file and per stream, on messages the container codec has
already taken out of their envelope (CRI ``P``/``F`` and docker fragments
joined): stdout and stderr interleave in a container log, so each stream
keeps its own open event. An event still open holds the file's checkpoint at
its first line (``held_from``), so a restart reads it again whole.

Rules are small state machines. A *start* regex opens an event; each state
lists regexes that continue it and the state they lead to. A line that
continues nothing closes the open event and is tried as a start; a line
that starts nothing stands alone and is emitted at once (no waiting).

* built-in rules (``java``, ``python``, ``go``, ``ruby``): the open event's
  state is tried first (Python's chained tracebacks continue across a
  ``Traceback`` line), then the starts of every listed language.
* ``regex`` rules (Fluentd's ``format_firstline``, Fluent Bit's ``start``
  state): a start line always opens a new event; with no ``cont`` regex every
  other line continues the open event.

An event is emitted when a line closes it, when it reaches ``max_lines`` or
``max_bytes`` (then the pieces are numbered in ``podlog.multiline_split``,
nothing is dropped), or when its stream got no line for ``flush_timeout``
(driven by the tail loop through ``expire``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

import orjson

from podlog.codecs.framing import Fragments
from podlog.codecs.records import RecordBuilder, Records
from podlog.config.errors import ConfigError, Located
from podlog.config.options import Option, Options

__all__ = ["BUILTIN", "Assembler", "Codec", "Multiline", "MultilineOptions", "Rules", "build_multiline"]

Matcher = Callable[[str], str | None]  # a line -> the next state, or None when it does not match


def _matcher(rules: list[tuple[str, str]]) -> Matcher:
    """One alternation for all of a state's (regex, next state) rules: one regex call per line."""
    rx = re.compile("|".join(f"(?P<_{n}>{pattern})" for n, (pattern, _) in enumerate(rules)))
    targets = {f"_{n}": target for n, (_, target) in enumerate(rules)}
    match = rx.match

    def next_state(line: str) -> str | None:
        m = match(line)
        return None if m is None else targets[m.lastgroup]  # type: ignore[index]

    return next_state


@dataclass(frozen=True)
class Rules:
    """How one kind of event starts (``start``: the line -> its first state) and goes on, state by state."""

    name: str
    start: Matcher
    states: dict[str, Matcher]
    start_first: bool = False  # regex rules: a start line always opens a new event
    final: frozenset[str] = frozenset()  # states that complete the event: it is emitted at once


# --- built-in rules: (start regex, first state, {state: [(regex, next state)]}) --------------------

_JAVA_FRAMES = [
    (r"[ \t]+at \S", "frames"),
    (r"[ \t]*(?:Caused by|Suppressed): ", "frames"),
    (r"[ \t]*\.\.\. \d+ (?:more|common frames omitted)", "frames"),
]
_PY_EXCEPTION = r"[A-Za-z_][\w.]*(?::.*)?$"  # "ValueError: msg", "pkg.Err: msg", "KeyboardInterrupt"
_PY_TRACEBACK = r"Traceback \(most recent call last\):$"
_GO_FRAMES = [
    (r"$", "go"),                                   # blank lines between sections
    (r"goroutine \d+ .*\]:$", "go"),                # goroutine 1 [running]:
    (r"[ \t]", "go"),                               # \t/src/main.go:8 +0x1d, \tpanic: ... [recovered]
    (r"created by ", "go"),
    (r"[^\s(]+\(.*\)$", "go"),                      # main.main(), net/http.(*conn).serve(0xc0001b6000, ...)
    (r"\[signal ", "go"),
    (r"(?:runtime stack:|exit status \d+|\.\.\.additional frames elided\.\.\.)$", "go"),
]

_BUILTIN_SPECS: dict[str, tuple[str, str, dict[str, list[tuple[str, str]]]]] = {
    # java.lang.IllegalStateException: boom / Exception in thread "main" java.lang.Error
    "java": (r'(?:Exception in thread "[^"]*" )?(?:[A-Za-z_$][\w$]*\.)+[A-Z][\w$]*(?::.*)?$', "frames",
             {"frames": _JAVA_FRAMES}),
    "python": (_PY_TRACEBACK, "frames", {
        "frames": [(r"[ \t]", "frames"), (_PY_EXCEPTION, "last")],
        "last": [(r"$", "gap")],  # a chained exception may follow: blank, "During handling...", blank, Traceback
        "gap": [(r"$", "gap"), (r"(?:During handling of the above exception|The above exception was the direct "
                                r"cause of the following exception)", "gap"), (_PY_TRACEBACK, "frames")],
    }),
    "go": (r"(?:panic: |fatal error: |goroutine \d+ .*\]:$)", "go", {"go": _GO_FRAMES}),
    # /app/models/user.rb:12:in `save': undefined method `x' for nil (NoMethodError)   (Ruby 3.4: 'User#save')
    "ruby": (r"\S+:\d+:in [`'].*", "from", {
        "from": [(r"[ \t]+from \S+:\d+", "from"), (r"[ \t]+\.\.\. \d+ levels\.\.\.$", "from")],
    }),
}


def _builtin(name: str) -> Rules:
    start, first, states = _BUILTIN_SPECS[name]
    starts = _matcher([(start, first)])
    return Rules(name, starts, {state: _matcher(rules) for state, rules in states.items()})


BUILTIN: dict[str, Rules] = {name: _builtin(name) for name in _BUILTIN_SPECS}


def _regex_rules(start: re.Pattern[str], cont: re.Pattern[str] | None) -> Rules:
    search = start.search

    def starts(line: str) -> str | None:
        return "cont" if search(line) else None

    if cont is None:
        return Rules("regex", starts, {"cont": lambda _line: "cont"}, start_first=True)
    cont_search = cont.search
    return Rules("regex", starts, {"cont": lambda line: "cont" if cont_search(line) else None}, start_first=True)


def _endswith_rules(suffix: str) -> Rules:
    """A line ending in ``suffix`` (a backslash, say) continues into the next one; the first that does not
    ends the event, which is emitted at once."""

    def more(line: str) -> str:
        return "more" if line.endswith(suffix) else "end"

    def starts(line: str) -> str | None:
        return "more" if line.endswith(suffix) else None

    return Rules("endswith", starts, {"more": more}, final=frozenset({"end"}))


# --- configuration ----------------------------------------------------------------------------------


class MultilineOptions(Options):
    """The ``multiline`` mapping of a tail source."""

    type = Option("list", [], doc="regex (with start and cont), endswith (a line ending in a backslash, or in "
                  "endswith, continues), or built-in rules: java, python, go, ruby; several built-ins as a list. "
                  "Empty with a start regex: regex.")
    start = Option("str", "", doc="regex rules: a line this regex finds something in begins an event "
                   "(Fluentd's format_firstline).", aliases=("format_firstline",))
    cont = Option("str", "", doc="regex rules: lines this regex finds something in continue the open event; "
                  "other lines stand alone. Empty: every line that does not start an event continues one.",
                  aliases=("continue",))
    endswith = Option("str", "", doc="endswith rules: a line ending with this text continues into the next "
                      "(default a backslash); the first line without it ends the event.")
    flush_timeout = Option("duration", 1.0, doc="Emit an open event once its stream got no line for this long.",
                           aliases=("multiline_flush_interval",))
    max_lines = Option("int", 500, doc="Most lines in one event; more are emitted as the next piece, pieces "
                       "numbered in podlog.multiline_split.")
    max_bytes = Option("size", 256 * 1024, doc="Most bytes in one event (the lines and their newlines); past it "
                       "the event is cut as with max_lines.")


@dataclass(frozen=True)
class Multiline:
    """Compiled multiline settings of a source; ``assembler()`` gives each file its own state."""

    rules: tuple[Rules, ...]
    flush_timeout: float = 1.0
    max_lines: int = 500
    max_bytes: int = 256 * 1024
    _start: Callable[[str], tuple[Rules, str] | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_start", _start_of(self.rules))

    def assembler(self) -> Assembler:
        return Assembler(self)


def _start_of(rules: tuple[Rules, ...]) -> Callable[[str], tuple[Rules, str] | None]:
    """The first rules whose start matches a line, and the state it opens."""
    if len(rules) == 1:
        only = rules[0]
        start = only.start

        def one(line: str) -> tuple[Rules, str] | None:
            state = start(line)
            return None if state is None else (only, state)

        return one

    def first(line: str) -> tuple[Rules, str] | None:
        for r in rules:
            state = r.start(line)
            if state is not None:
                return r, state
        return None

    return first


def build_multiline(spec: Any, where: Located | None) -> Multiline | None:
    """``java``, ``[java, python]``, ``java,python`` or a mapping of MultilineOptions; None/false: off."""
    where = where or Located("<config>", 0, "multiline")
    if spec in (None, "", False, [], "none", "off"):
        return None
    if isinstance(spec, (str, list)):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise ConfigError(where, "expected a built-in name (java, python, go, ruby), a list of them, or a mapping "
                                 "with type: and its options")
    o = MultilineOptions.from_mapping(spec, where, f"{where.path}.")
    kinds = [k.lower() for k in o.type] or (["regex"] if o.start else [])
    if not kinds:
        raise o.error("type", "expected regex (with start:) or java, python, go, ruby")
    if o.max_lines < 1:
        raise o.error("max_lines", "must be at least 1")
    if o.max_bytes < 1:
        raise o.error("max_bytes", "must be at least 1")
    if o.endswith and kinds != ["endswith"]:
        raise o.error("endswith", "endswith goes with type: endswith")
    if kinds == ["regex"]:
        rules: tuple[Rules, ...] = (_compile_regex_rules(o),)
    elif kinds == ["endswith"]:
        if o.start or o.cont:
            raise o.error("start" if o.start else "cont", "start/cont are for type: regex, not endswith")
        rules = (_endswith_rules(o.endswith or "\\"),)
    else:
        unknown = [k for k in kinds if k not in BUILTIN]
        if unknown:
            raise o.error("type", f"unknown multiline rules {', '.join(unknown)}; valid: regex or endswith (alone), "
                                  f"{', '.join(BUILTIN)}")
        if o.start or o.cont:
            raise o.error("start" if o.start else "cont", "start/cont are for type: regex, not built-in rules")
        rules = tuple(BUILTIN[k] for k in dict.fromkeys(kinds))
    return Multiline(rules, o.flush_timeout, o.max_lines, o.max_bytes)


def _compile_regex_rules(o: Any) -> Rules:
    if not o.start:
        raise o.error("start", "type regex needs a start regex (the first line of an event)")
    try:
        start = _compile(o.start)
    except re.error as exc:
        raise o.error("start", f"invalid regular expression: {exc}") from None
    try:
        cont = _compile(o.cont) if o.cont else None
    except re.error as exc:
        raise o.error("cont", f"invalid regular expression: {exc}") from None
    return _regex_rules(start, cont)


def _compile(text: str) -> re.Pattern[str]:
    """A Python or Ruby regex, bare or Fluentd's ``/regex/flags``."""
    from podlog.parsers.regexp import slashed_regex

    return slashed_regex(text)


# --- assembly ---------------------------------------------------------------------------------------


class _Event:
    """An event being gathered on one stream."""

    __slots__ = ("first", "lines", "marks", "piece", "rules", "seen", "size", "state", "stream", "ts")

    def __init__(self, rules: Rules, state: str, first: int, ts: bytes | None, stream: bytes | None,
                 line: bytes, seen: float, piece: int = 0) -> None:
        self.rules = rules
        self.state = state
        self.first = first
        self.ts = ts
        self.stream = stream
        self.lines = [line]
        self.size = len(line)
        self.seen = seen
        self.piece = piece  # >0: continues an event cut at max_lines/max_bytes
        self.marks: dict[str, Any] | None = None


class Assembler:
    """Per-file state: at most one open event per stream."""

    def __init__(self, settings: Multiline) -> None:
        self.settings = settings
        self._open: dict[bytes | None, _Event] = {}
        self.clock: Callable[[], float] = time.monotonic  # the tail input sets its own (tests drive it)

    # --- offsets and time ---------------------------------------------------------------------

    def held_from(self) -> int | None:
        """Offset of the oldest open event's first line: the checkpoint must not pass it."""
        if not self._open:
            return None
        return min(ev.first for ev in self._open.values())

    def due(self, now: float) -> bool:
        limit = now - self.settings.flush_timeout
        return any(ev.seen <= limit for ev in self._open.values())

    def reset(self) -> None:
        """Forget open events (file truncated)."""
        self._open.clear()

    # --- the codec's entry points ---------------------------------------------------------------

    def decode(self, codec: Codec, records: Records, starts: list[int], docs: list[bytes],
               offsets: list[int]) -> None:
        """A read's records (envelopes off, fragments joined: ``codec.records``) assembled into events and
        built, one pass per read; ``starts`` are the offsets of the read's lines, which ``records.at`` indexes."""
        self.build(codec, self.feed(records, starts, self.clock()), docs, offsets)

    def expire(self, codec: Codec, now: float, docs: list[bytes], offsets: list[int]) -> None:
        """Emit events whose stream has been quiet for flush_timeout."""
        limit = now - self.settings.flush_timeout
        out = Records()
        for stream, ev in list(self._open.items()):
            if ev.seen <= limit:
                del self._open[stream]
                _record(ev, out)
        self.build(codec, out.sorted_by_at(), docs, offsets)

    def flush(self, codec: Codec, docs: list[bytes], offsets: list[int],
              streams: set[bytes] | None = None) -> None:
        """End of input (or of ``streams``' wait): fragments still waiting for their end join their stream's
        event, then those streams' events (all, without ``streams``) are emitted."""
        pending = sorted(codec.fragments.take(streams), key=itemgetter(1))
        held = Records([n for n in range(len(pending))], [ts for _, _, _, ts, _ in pending],
                       [stream for stream, _, _, _, _ in pending], [msg for _, _, msg, _, _ in pending])
        held.marks = {n: {"incomplete": True} for n in range(len(pending))}
        out = self.feed(held, [first for _, first, _, _, _ in pending], self.clock())
        for open_stream in [s for s in self._open if streams is None or s in streams]:
            _record(self._open.pop(open_stream), out)
        self.build(codec, out.sorted_by_at(), docs, offsets)

    # --- the state machine ----------------------------------------------------------------------

    def feed(self, records: Records, starts: list[int], now: float) -> Records:
        """Records completed by ``records`` (in file order, ``at`` indexing ``starts``), ordered by their
        first line's offset (their ``at``). A record's ``marks`` go with the event it joins."""
        out = Records()
        at_add, time_add, stream_add, message_add = out.at.append, out.time.append, out.stream.append, \
            out.message.append
        opened = self._open
        find_start = self.settings._start
        max_lines, max_bytes = self.settings.max_lines, self.settings.max_bytes
        marks = records.marks
        odd: set[int] = records.errors.keys() | records.cuts.keys() if records.errors or records.cuts else set()
        closed_any = False
        for k, (i, ts, stream, msg) in enumerate(zip(records.at, records.time, records.stream, records.message,
                                                     strict=True)):
            if k in odd:  # an envelope that did not decode, a piece of a cut line: kept as it is, never joined
                out.copy_row(records, k, starts[i], marks.get(k))
                continue
            text = msg.decode("utf-8", "replace")
            ev = opened.get(stream)
            if ev is not None:
                rules = ev.rules
                nxt = None if rules.start_first and rules.start(text) is not None else rules.states[ev.state](text)
                if nxt is not None:
                    if len(ev.lines) >= max_lines or ev.size + 1 + len(msg) > max_bytes:
                        _record(ev, out, split=True)  # cut here, marked; this line opens the next piece
                        closed_any = True
                        ev = opened[stream] = _Event(rules, nxt, starts[i], ts, stream, msg, now, ev.piece + 1)
                    else:
                        ev.lines.append(msg)
                        ev.size += 1 + len(msg)
                        ev.state = nxt
                        ev.seen = now
                    if marks and k in marks:
                        ev.marks = {**(ev.marks or {}), **marks[k]}
                    if nxt in rules.final:
                        del opened[stream]
                        _record(ev, out)
                        closed_any = True
                    continue
                del opened[stream]
                _record(ev, out)
                closed_any = True
            found = find_start(text)
            if found is None:
                if marks and k in marks:
                    out.marks[len(out.at)] = marks[k]
                at_add(starts[i])
                time_add(ts)
                stream_add(stream)
                message_add(msg)
                continue
            ev = opened[stream] = _Event(found[0], found[1], starts[i], ts, stream, msg, now)
            if marks and k in marks:
                ev.marks = dict(marks[k])
        return out.sorted_by_at() if closed_any else out

    # --- documents ------------------------------------------------------------------------------

    @staticmethod
    def build(codec: Codec, records: Records, docs: list[bytes], offsets: list[int]) -> None:
        """Documents through the codec's general path: one parser call for all records of the read."""
        if not records:
            return
        built = codec.builder.build(records)
        for k, marks in records.marks.items():
            built[k] = _marked(built[k], marks)
        docs.extend(built)
        offsets.extend(records.at)


class Codec(Protocol):
    """What the assembler needs of a file's codec: its record builder and its held fragments."""

    builder: RecordBuilder
    fragments: Fragments


def _record(ev: _Event, out: Records, split: bool = False) -> None:
    """An event as one record of ``out``, at its first line's offset; pieces of a cut event carry their number."""
    marks = ev.marks
    if split or ev.piece:
        marks = {**(marks or {}), "multiline_split": ev.piece}
    if marks:
        out.marks[len(out.at)] = marks
    out.add(ev.first, ev.ts, ev.stream, b"\n".join(ev.lines))


def _marked(doc: bytes, marks: dict[str, Any]) -> bytes:
    """Add podlog marks to a built document (rare: cut or incomplete events only)."""
    record = orjson.loads(doc)
    podlog = record.get("podlog")
    record["podlog"] = {**(podlog if isinstance(podlog, dict) else {}), **marks}
    return bytes(memoryview(orjson.dumps(record)))  # exact size: orjson allocates 4 KiB (docs/performance.md)
