"""Documents built from records: the constant per-file fragment, the parser call, and the careful general path.

The envelopes (``cri``, ``docker``) splice their common lines into documents themselves, with the templates
made here; every other record (a joined fragment, an odd envelope, a parsed or lifted payload, a multiline
event) is gathered in a ``Records`` batch and built by ``RecordBuilder.build``, one parser call per batch.

``Records`` is columnar on purpose: one list per field and sparse maps for the rare marks, so gathering a
record costs a few list appends and no object of its own (a named tuple per record cost 8% of a whole
agent's CPU in the multiline bench).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from itertools import compress
from operator import not_
from typing import Any

import msgspec
import orjson

__all__ = ["DocumentsFn", "ParseFn", "RecordBuilder", "Records", "all_utf8", "clash_probe", "escape_lines",
           "is_utf8", "kept", "now_rfc3339"]

_DUMPS = orjson.dumps
_LOADS = orjson.loads
_RAW_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
STREAMS = (b"stdout", b"stderr")

# A parse function takes messages and returns per message: dict, validated JSON bytes, or an error string.
ParseFn = Callable[[list[bytes]], list[Any]]
# A parser's documents(messages, heads): whole documents, None per message (or for all) it leaves to us.
DocumentsFn = Callable[[list[bytes], list[bytes]], "list[bytes | None] | None"]


def now_rfc3339() -> bytes:
    """The current time as RFC 3339 with nanoseconds, once per read for plain files."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)).encode() + b".%09dZ" % (
        ns % 1_000_000_000
    )


class Records:
    """Records bound for the general path, a column per field (row ``k`` is ``at[k]``, ``time[k]``, ...).

    ``at`` places a record: its line's index in the read for the envelopes, its first line's offset for
    multiline events. The rare parts are sparse, by row: ``errors`` (an envelope that did not decode: the
    line is kept raw, never parsed), ``cuts`` (the marks of a piece of a line cut at the line size limit:
    kept as it is, never parsed) and ``marks`` (podlog marks added to the built document, e.g. a multiline
    event's ``incomplete``).
    """

    __slots__ = ("at", "cuts", "errors", "marks", "message", "stream", "time")

    def __init__(self, at: list[int] | None = None, times: list[bytes | None] | None = None,
                 streams: list[bytes | None] | None = None, messages: list[bytes] | None = None) -> None:
        self.at: list[int] = [] if at is None else at
        self.time: list[bytes | None] = [] if times is None else times
        self.stream: list[bytes | None] = [] if streams is None else streams
        self.message: list[bytes] = [] if messages is None else messages
        self.errors: dict[int, str] = {}
        self.cuts: dict[int, dict[str, Any]] = {}
        self.marks: dict[int, dict[str, Any]] = {}

    @classmethod
    def plain(cls, lines: list[bytes], now: bytes) -> Records:
        """The lines of a file without envelope: one record each, all at the read's time."""
        n = len(lines)
        return cls(list(range(n)), [now] * n, [None] * n, lines)

    def __len__(self) -> int:
        return len(self.at)

    def add(self, at: int, ts: bytes | None, stream: bytes | None, message: bytes) -> int:
        """Append one record; returns its row (for the sparse parts)."""
        self.at.append(at)
        self.time.append(ts)
        self.stream.append(stream)
        self.message.append(message)
        return len(self.at) - 1

    def add_error(self, at: int, message: bytes, error: str) -> None:
        """A line whose envelope did not decode: kept raw with the error."""
        self.errors[self.add(at, None, None, message)] = error

    def add_cut(self, at: int, ts: bytes | None, stream: bytes | None, message: bytes, cut: dict[str, Any]) -> None:
        """A piece of a line cut at the line size limit, with its marks (``split`` or ``truncated``)."""
        self.cuts[self.add(at, ts, stream, message)] = cut

    def plain_rows(self) -> bool:
        """No row carries an error or a cut."""
        return not self.errors and not self.cuts

    def copy_row(self, other: Records, k: int, at: int, marks: dict[str, Any] | None = None) -> None:
        """Row ``k`` of ``other`` appended at ``at``, its error and cut with it; ``marks`` for the document."""
        row = self.add(at, other.time[k], other.stream[k], other.message[k])
        if k in other.errors:
            self.errors[row] = other.errors[k]
        if k in other.cuts:
            self.cuts[row] = other.cuts[k]
        if marks:
            self.marks[row] = marks

    def sorted_by_at(self) -> Records:
        """The same records ordered by ``at`` (stable)."""
        order = sorted(range(len(self.at)), key=self.at.__getitem__)
        new = {old: row for row, old in enumerate(order)}
        out = Records([self.at[k] for k in order], [self.time[k] for k in order], [self.stream[k] for k in order],
                      [self.message[k] for k in order])
        out.errors = {new[k]: v for k, v in self.errors.items()}
        out.cuts = {new[k]: v for k, v in self.cuts.items()}
        out.marks = {new[k]: v for k, v in self.marks.items()}
        return out


class RecordBuilder:
    """The documents of one file: its constant fields serialised once, the templates the envelopes splice
    into, and the general path (a dict, then one dumps) for everything else.

    ``lift_json`` splices JSON object payloads into the document; ``parse`` (a parser's batch function)
    handles the rest; ``reserved`` are keys a lifted payload must not bring.
    """

    def __init__(
        self,
        fields: dict[str, Any] | None = None,
        message_key: str = "message",
        lift_json: bool = False,
        parse: ParseFn | None = None,
        reserved: frozenset[str] = frozenset(),
    ) -> None:
        self.fields = dict(fields or {})
        body = _DUMPS(self.fields)[1:-1]
        self.frag = body + b"," if body else b""
        self.msg_key = _DUMPS(message_key) + b":"
        # '%' in constant fragments must not be read as a format directive
        self.template = (b'{"@timestamp":"%b","stream":"%b",' + self.frag.replace(b"%", b"%%")
                         + self.msg_key.replace(b"%", b"%%") + b"%b}")
        self.template_escaped = self.template[:-3] + b'"%b"}'  # the message already escaped, quotes around it
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
        self.documents: DocumentsFn | None = (
            owner.documents if keys and self._clash[0].isdisjoint(keys) else None  # type: ignore[union-attr]
        )
        self._heads: dict[bytes | None, bytes] = {None: self.frag,
                                                  **{s: b'"stream":"%b",' % s + self.frag for s in STREAMS}}

    # --- batches -----------------------------------------------------------------------------------

    def build(self, records: Records) -> list[bytes]:
        """A document per record, in row order; one parser call for the whole batch."""
        errors, cuts = records.errors, records.cuts
        if self.parse is None:
            rows = zip(records.time, records.stream, records.message, strict=True)
            document = self.document
            if not errors and not cuts:
                return [document(ts, stream, msg) for ts, stream, msg in rows]
            return [document(ts, stream, msg, errors.get(k), flags=cuts.get(k))
                    for k, (ts, stream, msg) in enumerate(rows)]
        n = len(records)
        out: list[bytes | None] = [None] * n
        left: Sequence[int] = range(n)
        if self.documents is not None:
            self._parser_documents(records, out)
            left = list(compress(left, map(not_, out)))  # the rows it left to us (documents are never empty)
            if not left:
                return out  # type: ignore[return-value]  # every row filled
        odd: set[int] = errors.keys() | cuts.keys() if errors or cuts else set()
        times, streams, messages = records.time, records.stream, records.message
        todo = messages if not odd and len(left) == n else [messages[k] for k in left if k not in odd]
        results = iter(self.parse(todo) if todo else [])
        utf8 = all_utf8(todo)
        parsed_document = self.parsed_document
        for k in left:
            ts, stream, msg = times[k], streams[k], messages[k]
            if k in odd:
                out[k] = self.document(ts, stream, msg, errors.get(k), flags=cuts.get(k))
                continue
            result = next(results)
            # A dict whose keys clash with none of ours (a str @timestamp from the parser replaces the
            # read time): the common case, serialised without document's dict merge.
            if utf8 and type(result) is dict and result and type(result.get("@timestamp", "")) is str \
                    and (self._clash[0] if stream is not None else self._clash[1]).isdisjoint(result):
                out[k] = parsed_document(ts, stream, result)
            else:
                out[k] = self.document(ts, stream, msg, None, result)
        return out  # type: ignore[return-value]  # every row filled

    def build_into(self, records: Records, out: list[bytes | None]) -> None:
        """``build``, each document put in ``out`` at its record's ``at``."""
        if self.parse is None and not records.errors and not records.cuts:
            document = self.document  # the common case (fragments joined), without a list in between
            for i, ts, stream, msg in zip(records.at, records.time, records.stream, records.message, strict=True):
                out[i] = document(ts, stream, msg)
            return
        for i, doc in zip(records.at, self.build(records), strict=True):
            out[i] = doc

    def _parser_documents(self, records: Records, out: list[bytes | None]) -> None:
        """Documents the parser writes itself land in ``out`` (by row); rows it leaves (odd lines, invalid
        UTF-8, envelope errors, cut pieces) stay None."""
        heads = list(map(self._heads.get, records.stream))
        if records.plain_rows() and None not in heads:
            rows: Iterable[int] = range(len(heads))
            docs = self.documents(records.message, heads)  # type: ignore[arg-type,misc]
        else:
            odd = records.errors.keys() | records.cuts.keys()
            rows = [k for k, head in enumerate(heads) if head is not None and k not in odd]
            docs = self.documents([records.message[k] for k in rows], [heads[k] for k in rows])  # type: ignore[misc]
        if docs is None:
            return
        for k, doc in zip(rows, docs, strict=True):
            out[k] = doc

    def plain(self, lines: list[bytes], now: bytes) -> list[bytes]:
        """Documents of lines without envelope, all at the read's time ``now``."""
        if self.parse is not None or self.lift_json:
            return self.build(Records.plain(lines, now))
        head = b'{"@timestamp":"' + now + b'",' + self.frag + self.msg_key
        dumps = _DUMPS
        docs = []
        for line in lines:
            try:
                docs.append(head + dumps(line.decode()) + b"}")
            except UnicodeDecodeError:
                docs.append(self.document(now, None, line))
        return docs

    # --- one record ---------------------------------------------------------------------------------

    def parsed_document(self, ts: bytes | None, stream: bytes | None, result: dict[str, Any]) -> bytes:
        """The same bytes ``document`` writes for a clash-free parsed dict, spliced rather than merged."""
        if "@timestamp" in result:
            if stream is None and not self.fields and next(iter(result)) == "@timestamp":
                return kept(_DUMPS(result, default=str))  # already in the document's key order
            record: dict[str, Any] = {"@timestamp": ""}
            if stream is not None:
                record["stream"] = stream.decode("ascii", "replace")
            return kept(_DUMPS({**record, **self.fields, **result}, default=str))
        head = b'{"@timestamp":' + _DUMPS((ts or now_rfc3339()).decode("ascii", "replace")) + b","
        if stream is not None:
            head += b'"stream":' + _DUMPS(stream.decode("ascii", "replace")) + b","
        return head + self.frag + _DUMPS(result, default=str)[1:]

    def parsed(self, ts: bytes | None, stream: bytes | None, msg: bytes, flags: dict[str, Any] | None = None) -> bytes:
        """One record through the parser (unless ``flags`` mark it a cut piece) and the general path."""
        parsed = self.parse([msg])[0] if self.parse is not None and not flags else None
        return self.document(ts, stream, msg, None, parsed, flags)

    def document(
        self,
        ts: bytes | None,
        stream: bytes | None,
        msg: bytes,
        error: str | None = None,
        parsed: Any = None,
        flags: dict[str, Any] | None = None,
    ) -> bytes:
        """Build one document the careful way: a dict, then one dumps. With ``flags`` (podlog marks) the
        message is not given to the parser nor spliced (a lifted payload is still merged)."""
        lifting = self.lift_json and self.parse is None and msg[:1] == b"{"
        if error is None and lifting and not flags:
            spliced = self.splice(ts, stream, msg)
            if spliced is not None:
                return spliced
        record: dict[str, Any] = {"@timestamp": (ts or now_rfc3339()).decode("ascii", "replace")}
        if stream is not None:
            record["stream"] = stream.decode("ascii", "replace")
        record.update(self.fields)
        text, bad_utf8 = _text(msg)
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
        return kept(_DUMPS(record, default=str))

    def splice(self, ts: bytes | None, stream: bytes | None, payload: bytes) -> bytes | None:
        """The JSON payload's members spliced after ours, or None if it cannot be done safely."""
        try:
            keys = _RAW_OBJECT.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not keys or not self.reserved.isdisjoint(keys) or not is_utf8(payload):
            return None
        body = payload.strip()
        head = b'{"@timestamp":"' + (ts or now_rfc3339()) + b'",'
        if stream is not None:
            head += b'"stream":"' + stream + b'",'
        return head + self.frag + body[1:]

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


# --- helpers the envelopes share ---------------------------------------------------------------------

_SEPARATOR = b"\x00"  # joins a chunk's lines; escaped by orjson as \u0000, which the lines are then cut at
_ESCAPED_SEPARATOR = b"\\u0000"


def escape_lines(lines: list[bytes]) -> list[bytes] | None:
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


def kept(doc: bytes) -> bytes:
    """An exact-size copy of an orjson result that will be held (buffered until flushed).

    orjson returns small documents in 4 KiB allocations; held by the thousand in a
    buffer they cost 15-20x their size in RSS, and the page faults of fresh memory
    cost more CPU than this copy (measured in docs/performance.md).
    """
    return bytes(memoryview(doc))


_PROBES: dict[frozenset[str], tuple[Callable[[bytes], Any], Any]] = {}


def clash_probe(reserved: frozenset[str]) -> tuple[Callable[[bytes], Any], Any]:
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


def is_utf8(msg: bytes) -> bool:
    try:
        msg.decode()
    except UnicodeDecodeError:
        return False
    return True


def all_utf8(messages: list[bytes]) -> bool:
    """Whether every message is valid UTF-8, in one pass (a newline ends any partial sequence)."""
    try:
        b"\n".join(messages).decode()
    except UnicodeDecodeError:
        return False
    return True


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
