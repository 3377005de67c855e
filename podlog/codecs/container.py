"""Container log envelopes (CRI and docker json-file) decoded into documents, a chunk at a time.

This is the agent's hot path. One call takes every complete line of a read
and returns serialised JSON documents, built by splicing constant per-file
fragments with the envelope's time and stream and the (escaped or lifted)
payload, so no per-record dict exists on the fast path. Anything unusual
(partial lines, invalid UTF-8, bad envelopes, payload keys that clash with
ours) goes to a slower general path that builds a dict.

CRI:     ``<RFC3339Nano time> <stdout|stderr> <P|F> <message>``; P fragments are
         joined per stream until the F that ends them.
docker:  ``{"log":"...\\n","stream":"stdout","time":"..."}``; a log value without
         a trailing newline is a 16 KiB fragment and is joined with the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from itertools import accumulate, chain, compress, count
from operator import add, methodcaller
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

if TYPE_CHECKING:
    from podlog.codecs.multiline import Assembler

__all__ = ["LineCodec", "detect_format", "now_rfc3339"]

_DUMPS = orjson.dumps
_LOADS = orjson.loads
_RAW_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])


class _DockerLine(msgspec.Struct):
    log: str
    stream: str = "stdout"
    time: str = ""


_DOCKER = msgspec.json.Decoder(_DockerLine)
_STREAMS = (b"stdout", b"stderr")
_SPLIT3 = methodcaller("split", b" ", 3)


def now_rfc3339() -> bytes:
    """The current time as RFC 3339 with nanoseconds, once per read for plain files."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)).encode() + b".%09dZ" % (
        ns % 1_000_000_000
    )


def detect_format(line: bytes) -> str:
    """Guess a file's envelope from one line: docker, cri, or none."""
    if line.startswith(b'{"log":'):
        try:
            _DOCKER.decode(line)
            return "docker"
        except msgspec.ValidationError:
            return "none"
        except msgspec.DecodeError:
            return "none"
    parts = line.split(b" ", 3)
    if len(parts) >= 3 and parts[1] in _STREAMS and parts[2] in (b"P", b"F") and parts[0][:2].isdigit():
        return "cri"
    return "none"


# A parse function takes messages and returns per message: dict, validated JSON bytes, or an error string.
ParseFn = Callable[[list[bytes]], list[Any]]
# A parser's documents(messages, heads): whole documents, None per message (or for all) it leaves to us.
DocumentsFn = Callable[[list[bytes], list[bytes]], "list[bytes | None] | None"]


class LineCodec:
    """Per-file state: the envelope, joined fragments, and the constant fragment of the file.

    ``fields`` are constant per file (e.g. kubernetes metadata, the path key);
    they are serialised once. ``lift_json`` splices JSON object payloads into
    the document; ``parse`` (a parser's batch function) handles the rest.
    """

    def __init__(
        self,
        fmt: str,
        fields: dict[str, Any] | None = None,
        message_key: str = "message",
        lift_json: bool = False,
        parse: ParseFn | None = None,
        reserved: frozenset[str] = frozenset(),
    ) -> None:
        self.format = fmt
        self.fields = dict(fields or {})
        body = _DUMPS(self.fields)[1:-1]
        self._frag = body + b"," if body else b""
        self._msg_key = _DUMPS(message_key) + b":"
        # '%' in constant fragments must not be read as a format directive
        self._tpl = (b'{"@timestamp":"%b","stream":"%b",' + self._frag.replace(b"%", b"%%")
                     + self._msg_key.replace(b"%", b"%%") + b"%b}")
        self._tpl_escaped = self._tpl[:-3] + b'"%b"}'  # the message already escaped, quotes around it
        self.message_key = message_key
        self.lift_json = lift_json
        self.parse = parse
        self.reserved = frozenset(reserved) | set(self.fields) | {"@timestamp", "stream", message_key}
        # Keys of a parsed record that clash with the record's own (with and without an envelope stream).
        self._clash = (frozenset(self.fields) | {"stream"}, frozenset(self.fields))
        # A parser that writes whole documents (``parse`` is its bound method, e.g. nginx's) is
        # given our members to put after its time, when none of its keys is one of ours.
        owner = getattr(parse, "__self__", None)
        keys = getattr(owner, "document_keys", None)
        self._documents: DocumentsFn | None = (
            owner.documents if keys and self._clash[0].isdisjoint(keys) else None  # type: ignore[union-attr]
        )
        self._heads: dict[bytes | None, bytes] = {
            None: self._frag, **{s: b'"stream":"%b",' % s + self._frag for s in _STREAMS}}
        # stream -> (start offset of the first fragment, fragments, time)
        self._partials: dict[bytes, tuple[int, list[bytes], bytes]] = {}
        # A joined line may grow without end (a process that never writes a newline): past max_joined
        # bytes its fragments so far are emitted as a piece, numbered per stream here (podlog.split).
        self.max_joined = 0
        self.truncate_joined = False  # max_line_action truncate: keep the first piece, drop the rest of the line
        self._pieces: dict[bytes, int] = {}  # stream -> pieces emitted so far (_DROPPING: the rest is dropped)
        self.multiline: Assembler | None = None  # set by the source: events joined after the fragments

    # --- offsets -----------------------------------------------------------------

    def held_from(self) -> int | None:
        """Offset of the oldest fragment (or open multiline event) still waiting for its end; the checkpoint
        must not pass it."""
        event = self.multiline.held_from() if self.multiline is not None else None
        if not self._partials:
            return event
        first = min(start for start, _, _ in self._partials.values())
        return first if event is None else min(first, event)

    def reset(self) -> None:
        """Forget held fragments (file truncated)."""
        self._partials.clear()
        self._pieces.clear()
        if self.multiline is not None:
            self.multiline.reset()

    # --- decoding ----------------------------------------------------------------

    def decode(
        self, lines: list[bytes], base: int, docs: list[bytes], offsets: list[int], read_time: bytes | None = None
    ) -> None:
        """Append one document per complete record in ``lines`` (which start at offset ``base``)."""
        if self.multiline is not None:  # a general path of its own: the fast loops stay as they are
            self.multiline.decode(self, lines, base, docs, offsets, read_time)
        elif self.format == "cri":
            self._cri(lines, base, docs, offsets)
        elif self.format == "docker":
            self._docker(lines, base, docs, offsets)
        else:
            self._plain(lines, base, docs, offsets, read_time or now_rfc3339())

    def _cri(self, lines: list[bytes], base: int, docs: list[bytes], offsets: list[int]) -> None:
        """Fast loop for the common line (full, valid, UTF-8); everything else is revisited in order.

        The messages are escaped for JSON a chunk at a time: one decode (UTF-8 check) and one
        orjson call for all lines, cut apart again at the escaped separator, so the loop only
        splices. A chunk that does not fit (invalid UTF-8, a separator inside a line) is escaped
        line by line instead.
        """
        starts = list(map(add, accumulate(chain((base,), map(len, lines))), count()))
        out: list[bytes | None] = []
        append = out.append
        special: list[int] = []
        held = {*self._partials, *self._pieces}
        dumps = _DUMPS
        tpl = self._tpl
        lift = self.lift_json and self.parse is None
        if self.parse is not None:
            held = {b"stdout", b"stderr", b"-"}  # every line takes the general path, parsed per chunk
        escaped = None if lift or self.parse is not None else _escape_lines(lines)
        if escaped is not None:
            spliced_tpl = self._tpl_escaped
            for parts in map(_SPLIT3, escaped):
                # escaped: a '"' or '\\' in the time, or any control character, shows as a backslash
                if len(parts) == 4 and parts[2] == b"F" and parts[1] not in held and parts[1] in _STREAMS \
                        and b"\\" not in parts[0]:
                    append(spliced_tpl % (parts[0], parts[1], parts[3]))
                    continue
                if len(parts) == 4:
                    if parts[2] == b"P":
                        held.add(parts[1])
                    else:
                        held.discard(parts[1])  # the F that ends them: special, and later lines are fast again
                special.append(len(out))
                append(None)
        else:
            frag = self._frag
            probe, no_clash = _clash_probe(self.reserved)
            # msgspec checks JSON, not the UTF-8 inside strings: one check per read, per line only if it fails
            utf8 = not lift or _all_utf8(lines)
            for parts in map(_SPLIT3, lines):
                if len(parts) == 4 and parts[2] == b"F" and parts[1] not in held and parts[1] in _STREAMS \
                        and b'"' not in parts[0] and b"\\" not in parts[0]:
                    msg = parts[3]
                    if lift and msg[:1] == b"{":
                        # _splice, inlined: the payload's members after ours, when its keys are all new
                        try:
                            new_keys = probe(msg) == no_clash
                        except (msgspec.DecodeError, msgspec.ValidationError):
                            new_keys = False
                        if new_keys and msg[1:2] == b'"' and (utf8 or _is_utf8(msg)):
                            append(b'{"@timestamp":"%b","stream":"%b",%b%b' % (parts[0], parts[1], frag,
                                                                               msg.strip()[1:]))
                            continue
                    else:
                        try:
                            append(tpl % (parts[0], parts[1], dumps(msg.decode())))
                            continue
                        except UnicodeDecodeError:
                            pass
                elif len(parts) == 4 and self.parse is None:
                    if parts[2] == b"P":
                        held.add(parts[1])
                    else:
                        held.discard(parts[1])  # the F that ends them: special, and later lines are fast again
                special.append(len(out))
                append(None)
        if special:
            self._cri_special(lines, special, starts, out)
        docs.extend(filter(None, out))
        offsets.extend(compress(starts, out))

    def _cri_special(self, lines: list[bytes], special: list[int], starts: list[int], out: list[bytes | None]) -> None:
        """Fragments, bad envelopes and odd payloads, in file order; results land in ``out``."""
        self._general_many(self._cri_join(lines, special, starts), out)

    def _cri_join(
        self, lines: list[bytes], special: Iterable[int], starts: list[int]
    ) -> list[tuple[int, bytes | None, bytes | None, bytes, str | None]]:
        """Envelopes taken off and P fragments joined: (index, time, stream, message, error) per record."""
        partials = self._partials
        pending: list[tuple[int, bytes | None, bytes | None, bytes, str | None]] = []
        for i in special:
            parts = lines[i].split(b" ", 3)
            if len(parts) == 3 and parts[2] == b"F":
                parts.append(b"")
            if len(parts) != 4 or parts[1] not in _STREAMS or parts[2] not in (b"P", b"F") \
                    or b'"' in parts[0] or b"\\" in parts[0]:
                pending.append((i, None, None, lines[i], "invalid CRI line"))
                continue
            ts, stream, flag, msg = parts
            if flag == b"P":
                self._hold(stream, starts, i, msg, ts, pending)
                continue
            if stream in partials:
                first, pieces, ts = partials.pop(stream)
                pieces.append(msg)
                msg = b"".join(pieces)
                starts[i] = first
            mark = self._last_piece(stream)
            if mark is not _DROPPED:
                pending.append((i, ts, stream, msg, mark))
        return pending

    def _hold(self, stream: bytes, starts: list[int], i: int, msg: bytes, ts: bytes,
              pending: list[tuple[int, bytes | None, bytes | None, bytes, str | None]]) -> None:
        """Keep a fragment until its line ends; past ``max_joined`` bytes emit what is held as a piece."""
        if self._pieces.get(stream) == _DROPPING:
            return  # the rest of a truncated line: dropped on purpose, as for a raw line in truncate mode
        held = self._partials.get(stream)
        if held is None:
            held = self._partials[stream] = (starts[i], [msg], ts)
        else:
            held[1].append(msg)
        if self.max_joined and sum(map(len, held[1])) > self.max_joined:
            first, pieces, ts = self._partials.pop(stream)
            n = self._pieces.get(stream, 0)
            self._pieces[stream] = _DROPPING if self.truncate_joined else n + 1
            starts[i] = first
            data = b"".join(pieces)
            if self.truncate_joined:
                pending.append((i, ts, stream, data[: self.max_joined], Piece({"truncated": True})))
            else:
                pending.append((i, ts, stream, data, Piece({"split": n})))

    def _last_piece(self, stream: bytes) -> Piece | None:
        """The mark of the end of a line cut into pieces, if it was (_DROPPED: the end of a truncated one)."""
        n = self._pieces.pop(stream, None)
        return None if n is None else _DROPPED if n == _DROPPING else Piece({"split": n})

    def _general_many(
        self, items: list[tuple[int, bytes | None, bytes | None, bytes, str | None]], out: list[bytes | None]
    ) -> None:
        """General-path documents for ``items`` (index, time, stream, message, error); one parser call for all."""
        if self.parse is None:
            for i, ts, stream, msg, error in items:
                out[i] = self._document(ts, stream, msg, error)
            return
        if self._documents is not None:
            items = self._parser_documents(items, out)
            if not items:
                return
        todo = [msg for _, _, _, msg, err in items if err is None]
        results = iter(self.parse(todo) if todo else [])
        utf8 = _all_utf8(todo)
        document = self._parsed_document
        for i, ts, stream, msg, error in items:
            if error is not None:
                out[i] = self._document(ts, stream, msg, error)
                continue
            result = next(results)
            # A dict whose keys clash with none of ours (a str @timestamp from the parser replaces the
            # read time): the common case, serialised without _document's dict merge.
            if utf8 and type(result) is dict and result and type(result.get("@timestamp", "")) is str \
                    and (self._clash[0] if stream is not None else self._clash[1]).isdisjoint(result):
                out[i] = document(ts, stream, result)
            else:
                out[i] = self._document(ts, stream, msg, None, result)

    def _parser_documents(
        self, items: list[tuple[int, bytes | None, bytes | None, bytes, str | None]], out: list[bytes | None]
    ) -> list[tuple[int, bytes | None, bytes | None, bytes, str | None]]:
        """Documents the parser writes itself land in ``out`` (whose slots for ``items`` are None);
        the items it leaves (odd lines, invalid UTF-8, envelope errors) are returned, in order."""
        heads = self._heads
        ready = [item for item in items if item[4] is None and item[2] in heads]
        docs = self._documents([item[3] for item in ready], [heads[item[2]] for item in ready])  # type: ignore[misc]
        if docs is None:
            return items
        for item, doc in zip(ready, docs, strict=True):
            if doc is not None:
                out[item[0]] = doc
        return [item for item in items if out[item[0]] is None]

    def _parsed_document(self, ts: bytes | None, stream: bytes | None, result: dict[str, Any]) -> bytes:
        """The same bytes _document writes for a clash-free parsed dict, spliced rather than merged."""
        if "@timestamp" in result:
            if stream is None and not self.fields and next(iter(result)) == "@timestamp":
                return _kept(_DUMPS(result, default=str))  # already in the document's key order
            record: dict[str, Any] = {"@timestamp": ""}
            if stream is not None:
                record["stream"] = stream.decode("ascii", "replace")
            return _kept(_DUMPS({**record, **self.fields, **result}, default=str))
        head = b'{"@timestamp":' + _DUMPS((ts or now_rfc3339()).decode("ascii", "replace")) + b","
        if stream is not None:
            head += b'"stream":' + _DUMPS(stream.decode("ascii", "replace")) + b","
        return head + self._frag + _DUMPS(result, default=str)[1:]

    def _docker(self, lines: list[bytes], base: int, docs: list[bytes], offsets: list[int]) -> None:
        starts = list(map(add, accumulate(chain((base,), map(len, lines))), count()))
        out: list[bytes | None] = [None] * len(lines)
        items = self._docker_items(lines, starts, out, self.parse is None and not self.lift_json)
        if items:
            self._general_many(items, out)
        docs.extend(filter(None, out))
        offsets.extend(compress(starts, out))

    def _docker_items(
        self, lines: list[bytes], starts: list[int], out: list[bytes | None], simple: bool
    ) -> list[tuple[int, bytes | None, bytes | None, bytes, str | None]]:
        """Envelopes decoded, fragments joined; ``simple`` lines' documents land in ``out``, the rest are returned."""
        decode = _DOCKER.decode
        dumps = _DUMPS
        tpl = self._tpl
        partials = self._partials
        items: list[tuple[int, bytes | None, bytes | None, bytes, str | None]] = []
        for i, line in enumerate(lines):
            if not line:
                continue
            try:
                entry = decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError):
                items.append((i, None, None, line, "invalid docker json-file line"))
                continue
            stream = entry.stream.encode()
            log = entry.log
            if not log.endswith("\n"):  # a 16 KiB fragment: held until the line's end
                self._hold(stream, starts, i, log.encode(), entry.time.encode(), items)
                continue
            log = log[:-1]
            ts = entry.time.encode()
            if stream in partials:
                first, pieces, ts = partials.pop(stream)
                pieces.append(log.encode())
                starts[i] = first
                items.append((i, ts, stream, b"".join(pieces), self._last_piece(stream)))
            elif stream in self._pieces:
                mark = self._last_piece(stream)
                if mark is not _DROPPED:
                    items.append((i, ts, stream, log.encode(errors="surrogatepass"), mark))
            elif simple and stream in _STREAMS and b'"' not in ts and b"\\" not in ts:
                out[i] = tpl % (ts, stream, dumps(log))
            else:
                items.append((i, ts, stream, log.encode(errors="surrogatepass"), None))
        return items

    def _plain(self, lines: list[bytes], base: int, docs: list[bytes], offsets: list[int], now: bytes) -> None:
        starts = list(map(add, accumulate(chain((base,), map(len, lines))), count()))
        starts.pop()
        if self.parse is not None or self.lift_json:
            out: list[bytes | None] = [None] * len(lines)
            self._general_many([(i, now, None, line, None) for i, line in enumerate(lines)], out)
            docs.extend(out)  # type: ignore[arg-type]
            offsets.extend(starts)
            return
        head = b'{"@timestamp":"' + now + b'",' + self._frag + self._msg_key
        dumps = _DUMPS
        for line in lines:
            try:
                docs.append(head + dumps(line.decode()) + b"}")
            except UnicodeDecodeError:
                docs.append(self._document(now, None, line))
        offsets.extend(starts)

    # --- the general path ----------------------------------------------------------

    def _general(
        self,
        ts: bytes | None,
        stream: bytes | None,
        msg: bytes,
        start: int,
        docs: list[bytes],
        offsets: list[int],
        error: str | None = None,
        flags: dict[str, Any] | None = None,
    ) -> None:
        parsed = self.parse([msg])[0] if self.parse is not None and error is None else None
        docs.append(self._document(ts, stream, msg, error, parsed, flags))
        offsets.append(start)

    def _document(
        self,
        ts: bytes | None,
        stream: bytes | None,
        msg: bytes,
        error: str | None = None,
        parsed: Any = None,
        flags: dict[str, Any] | None = None,
    ) -> bytes:
        """Build one document the careful way: a dict, then one dumps."""
        lifting = self.lift_json and self.parse is None and msg[:1] == b"{"
        if error is None and lifting and not flags:
            spliced = self._splice(ts, stream, msg)
            if spliced is not None:
                return spliced
        record: dict[str, Any] = {"@timestamp": (ts or now_rfc3339()).decode("ascii", "replace")}
        if stream is not None:
            record["stream"] = stream.decode("ascii", "replace")
        record.update(self.fields)
        text, bad_utf8 = _text(msg)
        if isinstance(error, Piece):
            flags, error = {**(flags or {}), **error.flags}, None
        if error is not None:
            record[self.message_key] = text
            record["parse_error"] = error
        elif self.parse is not None and not flags:
            self._apply_parsed(record, parsed, text)
        elif lifting:
            self._lift_slow(record, msg, text)
        else:
            record[self.message_key] = text
        marks = dict(flags or {})
        if bad_utf8:
            marks["invalid_utf8"] = True
        if marks:
            record["podlog"] = marks
        return _kept(_DUMPS(record, default=str))

    def _splice(self, ts: bytes | None, stream: bytes | None, payload: bytes) -> bytes | None:
        """The JSON payload's members spliced after ours, or None if it cannot be done safely."""
        try:
            keys = _RAW_OBJECT.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not keys or not self.reserved.isdisjoint(keys) or not _is_utf8(payload):
            return None
        body = payload.strip()
        head = b'{"@timestamp":"' + (ts or now_rfc3339()) + b'",'
        if stream is not None:
            head += b'"stream":"' + stream + b'",'
        return head + self._frag + body[1:]

    def _lift_slow(self, record: dict[str, Any], msg: bytes, text: str) -> None:
        try:
            payload = _LOADS(text)  # the text has invalid UTF-8 replaced: such a payload is still lifted, marked
        except orjson.JSONDecodeError as exc:
            record[self.message_key] = text
            record["parse_error"] = f"invalid JSON: {exc.msg}"
            return
        if not isinstance(payload, dict):
            record[self.message_key] = text
            record["parse_error"] = "JSON payload is not an object"
            return
        _merge(record, payload)

    def _apply_parsed(self, record: dict[str, Any], result: Any, text: str) -> None:
        if isinstance(result, bytes):
            try:
                result = _LOADS(result)
            except orjson.JSONDecodeError as exc:  # e.g. 1e999: valid for the key check, not for orjson
                result = None
                record["parse_error"] = f"invalid JSON: {exc.msg}"
        if isinstance(result, dict):
            _merge(record, result)
        else:
            record[self.message_key] = text
            record.setdefault("parse_error", getattr(result, "reason", str(result)))

    # --- end of input ----------------------------------------------------------------

    def has_fragments(self) -> bool:
        return bool(self._partials)

    def held_fragments(self) -> dict[bytes, int]:
        """Streams with a fragment waiting for its line's end, and the offset it starts at."""
        return {stream: first for stream, (first, _, _) in self._partials.items()}

    def flush_partials(self, docs: list[bytes], offsets: list[int], streams: Iterable[bytes] | None = None) -> None:
        """Emit held fragments as they are (file gone, or ``streams`` waited too long): better incomplete than lost."""
        chosen = set(self._partials if streams is None else streams)
        if self.multiline is not None:  # fragments join their stream's open event, then those events are emitted
            self.multiline.flush(self, docs, offsets, chosen if streams is not None else None)
            return
        for stream, (first, pieces, ts) in sorted(self._partials.items()):
            if stream not in chosen:
                continue
            flags: dict[str, Any] = {"incomplete": True}
            if stream in self._pieces:
                flags["split"] = self._pieces.pop(stream)
            self._general(ts, stream, b"".join(pieces), first, docs, offsets, flags=flags)
            del self._partials[stream]
        if streams is None:
            self._pieces.clear()

    def flags_record(self, msg: bytes, start: int, docs: list[bytes], offsets: list[int], flags: dict[str, Any],
                     read_time: bytes | None = None) -> None:
        """A record cut by the line size limit: the piece, marked, through the general path."""
        self._general(read_time, None, msg, start, docs, offsets, flags=flags)


_SEPARATOR = b"\x00"  # joins a chunk's lines; escaped by orjson as \u0000, which the lines are then cut at
_ESCAPED_SEPARATOR = b"\\u0000"


def _escape_lines(lines: list[bytes]) -> list[bytes] | None:
    """Every line JSON-escaped (without quotes) in one pass, or None if the chunk must go line by line.

    A NUL byte or an invalid UTF-8 sequence in any line, or the text ``\\u0000`` itself, makes the
    cut ambiguous; the count check catches each, and the caller escapes line by line.
    """
    try:
        text = _SEPARATOR.join(lines).decode()
    except UnicodeDecodeError:
        return None
    escaped = _DUMPS(text)[1:-1].split(_ESCAPED_SEPARATOR)
    return escaped if len(escaped) == len(lines) else None


def _kept(doc: bytes) -> bytes:
    """An exact-size copy of an orjson result that will be held (buffered until flushed).

    orjson returns small documents in 4 KiB allocations; held by the thousand in a
    buffer they cost 15-20x their size in RSS, and the page faults of fresh memory
    cost more CPU than this copy (measured in docs/performance.md).
    """
    return bytes(memoryview(doc))


_PROBES: dict[frozenset[str], tuple[Callable[[bytes], Any], Any]] = {}


def _clash_probe(reserved: frozenset[str]) -> tuple[Callable[[bytes], Any], Any]:
    """A decoder that validates a JSON object and picks out only the keys podlog writes itself.

    Decoding into a struct whose fields are those keys skips every other member without building it
    (half the cost of a dict of raw values); the result equals ``no_clash`` when none is present.
    Keys are compared unescaped, so ``"str\\u0065am"`` is caught too. One struct class per key set.
    """
    found = _PROBES.get(reserved)
    if found is None:
        names = sorted(reserved)
        fields = [(f"k{i}", msgspec.Raw, msgspec.Raw(b"")) for i in range(len(names))]
        struct = msgspec.defstruct("ReservedKeys", fields, rename=dict(zip((f[0] for f in fields), names,
                                                                           strict=True)))
        found = _PROBES[reserved] = (msgspec.json.Decoder(struct).decode, struct())
    return found


def _is_utf8(msg: bytes) -> bool:
    try:
        msg.decode()
    except UnicodeDecodeError:
        return False
    return True


def _all_utf8(messages: list[bytes]) -> bool:
    """Whether every message is valid UTF-8, in one pass (a newline ends any partial sequence)."""
    try:
        b"\n".join(messages).decode()
    except UnicodeDecodeError:
        return False
    return True


class Piece(str):
    """In an item's error slot: not an error but the marks of a piece of a line cut at max_joined."""

    def __new__(cls, flags: dict[str, Any]) -> Piece:
        piece = super().__new__(cls, f"piece {flags}")
        piece.flags = flags
        return piece

    flags: dict[str, Any]


_DROPPING = -1  # in LineCodec._pieces: the stream's line was truncated, its remaining fragments are dropped
_DROPPED = Piece({"dropped": True})  # _last_piece's answer for the end of such a line: emit nothing


def _text(msg: bytes) -> tuple[str, bool]:
    try:
        return msg.decode(), False
    except UnicodeDecodeError:
        return msg.decode("utf-8", "replace"), True


def _merge(record: dict[str, Any], payload: dict[str, Any]) -> None:
    """Payload fields beside ours; a payload key that clashes keeps ours and is kept under ``payload``."""
    clashes = {}
    for key, value in payload.items():
        if key == "@timestamp" and isinstance(value, str):
            record["@timestamp"] = value  # a parser-found time wins over the read time
        elif key in record:
            clashes[key] = value
        else:
            record[key] = value
    if clashes:
        record["payload"] = clashes
