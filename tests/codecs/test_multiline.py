"""Multiline assembly straight on the codec: built-in rules, regex rules, streams, limits, time, offsets."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podlog.codecs.container import LineCodec
from podlog.codecs.multiline import build_multiline
from podlog.config.errors import ConfigError
from podlog.parsers import build_parser

JAVA = """java.lang.IllegalStateException: boom
\tat com.example.Service.handle(Service.java:42)
\tat com.example.Main.main(Main.java:7)
Caused by: java.io.IOException: disk full
\tat com.example.Store.write(Store.java:9)
\t... 1 more"""
PYTHON = """Traceback (most recent call last):
  File "/app/main.py", line 9, in <module>
    main()
  File "/app/main.py", line 5, in main
    raise ValueError("bad input")
ValueError: bad input"""
PYTHON_CHAINED = """Traceback (most recent call last):
  File "a.py", line 2, in <module>
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "a.py", line 4, in <module>
RuntimeError: wrapped"""
GO = """panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.handler(0xc000012345, {0x4c20a8, 0x3})
\t/app/main.go:12 +0x1d
net/http.(*conn).serve(0xc0001b6000, {0x6f4a10, 0xc0001a2060})
\t/usr/local/go/src/net/http/server.go:3086 +0x5cb
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3214 +0x4a5
exit status 2"""
RUBY = """/app/models/user.rb:12:in `save': undefined method `name' for nil:NilClass (NoMethodError)
\tfrom /app/controllers/users_controller.rb:8:in `create'
\tfrom /app/app.rb:3:in `<main>'"""


def codec(multiline: Any, fmt: str = "none", parser: Any = None) -> LineCodec:
    parse = build_parser(parser, None).parse if parser else None
    c = LineCodec(fmt, parse=parse)
    spec = build_multiline(multiline, None)
    assert spec is not None
    c.multiline = spec.assembler()
    return c


def decode(c: LineCodec, lines: list[bytes], base: int = 0) -> tuple[list[dict], list[int]]:
    docs: list[bytes] = []
    offsets: list[int] = []
    c.decode(lines, base, docs, offsets, b"2024-01-01T00:00:00Z")
    return [orjson.loads(d) for d in docs], offsets


def flush(c: LineCodec) -> list[dict]:
    docs: list[bytes] = []
    c.flush_partials(docs, [])
    return [orjson.loads(d) for d in docs]


def split(text: str) -> list[bytes]:
    return [line.encode() for line in text.split("\n")]


def starts_of(lines: list[bytes], base: int = 0) -> list[int]:
    out = [base]
    for line in lines:
        out.append(out[-1] + len(line) + 1)
    return out


@pytest.mark.parametrize(("name", "trace"), [("java", JAVA), ("python", PYTHON), ("python", PYTHON_CHAINED),
                                             ("go", GO), ("ruby", RUBY)])
def test_builtin_traces_become_one_record_between_normal_lines(name: str, trace: str) -> None:
    c = codec(name)
    lines = [b"INFO before", *split(trace), b"INFO after"]
    records, offsets = decode(c, lines)
    assert [r["message"] for r in records] == ["INFO before", trace, "INFO after"]
    assert offsets == [*starts_of(lines)[:2], starts_of(lines)[-2]]
    assert c.held_from() is None


def test_all_builtins_at_once_and_normal_lines_are_not_held() -> None:
    c = codec(["java", "python", "go", "ruby"])
    lines = [*split(JAVA), *split(PYTHON), b"plain", *split(GO), *split(RUBY)]
    records, _ = decode(c, lines)
    assert [r["message"] for r in records] == [JAVA, PYTHON, "plain", GO]
    assert c.held_from() == starts_of(lines)[len(lines) - 3]  # the Ruby trace may go on: held
    records, _ = decode(c, [b"INFO next"], base=starts_of(lines)[-1])
    assert [r["message"] for r in records] == [RUBY, "INFO next"]
    assert c.held_from() is None


def test_a_new_trace_closes_the_previous_one() -> None:
    records, _ = decode(c := codec("java,python"), [*split(JAVA), *split(JAVA), *split(PYTHON), b"x"])
    assert [r["message"] for r in records] == [JAVA, JAVA, PYTHON, "x"]
    assert c.held_from() is None


def cri(stream: str, text: str, flag: str = "F", ts: str = "2024-01-01T00:00:00.1Z") -> bytes:
    return f"{ts} {stream} {flag} {text}".encode()


def test_cri_streams_assemble_separately_and_offsets_are_first_lines() -> None:
    trace = split(JAVA)
    lines = [cri("stderr", trace[0].decode(), ts="2024-01-01T00:00:01Z")]
    for n, frame in enumerate(trace[1:]):
        lines.append(cri("stdout", f"request {n} ok"))
        lines.append(cri("stderr", frame.decode()))
    lines.append(cri("stderr", "INFO recovered"))
    records, offsets = decode(c := codec("java", "cri"), lines, base=1000)
    by_stream = [(r["stream"], r["message"]) for r in records]
    assert by_stream == [("stderr", JAVA)] + [("stdout", f"request {n} ok") for n in range(len(trace) - 1)] + [
        ("stderr", "INFO recovered")]
    assert records[0]["@timestamp"] == "2024-01-01T00:00:01Z"  # the event's first line's time
    assert offsets[0] == 1000 and offsets == sorted(offsets)
    assert c.held_from() is None


def test_cri_partial_lines_inside_a_trace_are_joined_first() -> None:
    long_frame = "\tat com.example." + "x" * 50 + ".run(X.java:1)"
    lines = [
        cri("stderr", "java.lang.RuntimeException: boom"),
        cri("stderr", long_frame[:20], "P"),
        cri("stdout", "hello"),
        cri("stderr", long_frame[20:], "F"),
        cri("stderr", "\t... 3 more"),
    ]
    c = codec("java", "cri")
    records, _ = decode(c, lines[:2])
    assert records == [] and c.held_from() == 0
    records, offsets = decode(c, lines[2:], base=starts_of(lines)[2])
    assert [r["message"] for r in records] == ["hello"]
    assert c.held_from() == 0  # the trace is still open on stderr
    records, offsets = decode(c, [cri("stderr", "done")], base=starts_of(lines)[-1])
    assert [r["message"] for r in records] == ["java.lang.RuntimeException: boom\n" + long_frame + "\n\t... 3 more",
                                               "done"]
    assert offsets == [0, starts_of(lines)[-1]]


def test_docker_fragments_joined_before_assembly() -> None:
    def line(log: str, stream: str = "stderr") -> bytes:
        return orjson.dumps({"log": log, "stream": stream, "time": "2024-01-01T00:00:00Z"})

    trace = split(RUBY)
    lines = [line(trace[0].decode() + "\n"), line(trace[1].decode()[:10]), line("out\n", "stdout"),
             line(trace[1].decode()[10:] + "\n"), line(trace[2].decode() + "\n"), line("end\n")]
    records, _ = decode(codec("ruby", "docker"), lines)
    assert [(r["stream"], r["message"]) for r in records] == [("stderr", RUBY), ("stdout", "out"), ("stderr", "end")]


def test_regex_rules_fluentd_semantics_every_other_line_continues() -> None:
    c = codec({"type": "regex", "start": r"/^\d{4}-/"})
    lines = [b"orphan", b"2024-01-01 first", b"  more", b"whatever", b"2024-01-02 second", b"tail"]
    records, _ = decode(c, lines)
    assert [r["message"] for r in records] == ["orphan", "2024-01-01 first\n  more\nwhatever"]
    assert c.held_from() == starts_of(lines)[4]
    assert [r["message"] for r in flush(c)] == ["2024-01-02 second\ntail"]


def test_regex_rules_with_cont_lines_matching_neither_stand_alone() -> None:
    c = codec({"type": "regex", "start": "^START", "continue": r"^\s"})
    records, _ = decode(c, [b"START a", b" 1", b"START b", b" 2", b" 3", b"other", b" 4", b"START c"])
    assert [r["message"] for r in records] == ["START a\n 1", "START b\n 2\n 3", "other", " 4"]


def test_joined_event_goes_through_the_parser_as_one_message() -> None:
    parser = {"type": "regex", "expression": r"^(?P<level>[A-Z]+) (?P<msg>.*)$", "multiline": True}
    c = codec({"type": "regex", "start": "^[A-Z]+ "}, parser=parser)
    records, _ = decode(c, [b"ERROR failed", b"\tat x", b"INFO ok"])
    assert records[0]["level"] == "ERROR" and records[0]["msg"] == "failed\n\tat x"
    assert "message" not in records[0]
    assert [r["msg"] for r in flush(c)] == ["ok"]


def test_max_lines_cuts_into_numbered_pieces_and_keeps_every_line() -> None:
    c = codec({"type": "java", "max_lines": 3})
    lines = split(JAVA)
    records, _ = decode(c, [*lines, b"after"])
    assert [r["message"] for r in records] == ["\n".join(x.decode() for x in lines[:3]),
                                               "\n".join(x.decode() for x in lines[3:]), "after"]
    assert [r.get("podlog") for r in records] == [{"multiline_split": 0}, {"multiline_split": 1}, None]


def test_max_bytes_cuts_and_the_next_piece_goes_on_in_the_same_state() -> None:
    c = codec({"type": "python", "max_bytes": 60})
    lines = split(PYTHON)
    records, offsets = decode(c, [*lines, b"after"])
    assert "\n".join(r["message"] for r in records[:-1]) == PYTHON
    assert all(len(r["message"].encode()) <= 60 for r in records[:-1])
    assert [r["podlog"]["multiline_split"] for r in records[:-1]] == list(range(len(records) - 1))
    assert records[-1] == {"@timestamp": "2024-01-01T00:00:00Z", "message": "after"}
    assert offsets == sorted(offsets)


def test_flush_timeout_emits_a_quiet_stream_and_releases_the_checkpoint() -> None:
    c = codec({"type": "java", "flush_timeout": "2s"})
    assert c.multiline is not None
    records, _ = decode(c, split(JAVA))
    assert records == [] and c.held_from() == 0
    seen = c.multiline._open[None].seen
    assert not c.multiline.due(seen + 1.9)
    assert c.multiline.due(seen + 2.0)
    docs: list[bytes] = []
    offsets: list[int] = []
    c.multiline.expire(c, seen + 2.0, docs, offsets)
    assert [orjson.loads(d)["message"] for d in docs] == [JAVA] and offsets == [0]
    assert c.held_from() is None


def test_end_of_input_joins_a_waiting_fragment_and_marks_it_incomplete() -> None:
    c = codec("java", "cri")
    decode(c, [cri("stderr", "java.lang.Error: x"), cri("stderr", "\tat a.B.c(B.java:1", "P")])
    assert c.held_from() == 0
    (record,) = flush(c)
    assert record["message"] == "java.lang.Error: x\n\tat a.B.c(B.java:1"
    assert record["podlog"] == {"incomplete": True}
    assert c.held_from() is None


def test_truncation_forgets_open_events() -> None:
    c = codec("java")
    decode(c, split(JAVA))
    c.reset()
    assert c.held_from() is None and flush(c) == []


@pytest.mark.parametrize(("spec", "error"), [
    ("cobol", "multiline.type: unknown multiline rules cobol"),
    ({"type": "java", "start": "x"}, "multiline.start: start/cont are for type: regex"),
    ({"type": "regex"}, "multiline.start: type regex needs a start regex"),
    ({"type": "regex", "start": "("}, "multiline.start: invalid regular expression"),
    ({"type": "java", "max_lines": 0}, "multiline.max_lines: must be at least 1"),
    ({"type": "java", "flush_timout": "1s"}, "multiline.flush_timout: unknown option (did you mean 'flush_timeout'?)"),
    (3, "multiline: expected a built-in name"),
])
def test_config_errors(spec: Any, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_multiline(spec, None)
    assert error in str(info.value)


def test_off_values() -> None:
    assert all(build_multiline(v, None) is None for v in (None, "", False, "none"))


# Whole traces, pieces of them and odd lines: every rule and state gets exercised.
_BLOCKS = [split(t) for t in (JAVA, PYTHON_CHAINED, GO, RUBY)] + [
    [line] for line in (b"", b"INFO plain", b"  indented", b"\xff\xfe not utf-8", b"2024-01-01 start")]
_BLOCK = st.one_of(st.sampled_from(_BLOCKS), st.sampled_from(_BLOCKS).flatmap(
    lambda lines: st.integers(0, len(lines)).map(lambda k: lines[k:])))  # traces joined mid-way too


@st.composite
def _interleaved(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """Blocks per stream, their lines interleaved between the streams at random, as a container writes them."""
    queues = {s: [line for block in draw(st.lists(_BLOCK, max_size=8)) for line in block] for s in ("out", "err")}
    out: list[tuple[str, bytes]] = []
    while queues["out"] or queues["err"]:
        stream = draw(st.sampled_from([s for s in ("out", "err") if queues[s]]))
        out.append(({"out": "stdout", "err": "stderr"}[stream], queues[stream].pop(0)))
    return out


@settings(max_examples=300, deadline=None)
@given(
    events=_interleaved(),
    cuts=st.lists(st.integers(0, 60), max_size=5),
    rules=st.sampled_from([["java", "python", "go", "ruby"], ["python"], {"type": "regex", "start": "^2024"},
                           {"type": "regex", "start": "^2024", "cont": r"^\s"}]),
    max_lines=st.integers(1, 12),
    max_bytes=st.integers(1, 400),
)
def test_any_lines_never_raise_and_never_lose_a_line(events: list[tuple[str, bytes]], cuts: list[int],
                                                     rules: Any, max_lines: int, max_bytes: int) -> None:
    spec = {"type": rules} if isinstance(rules, list) else dict(rules)
    spec.update(max_lines=max_lines, max_bytes=max_bytes)
    c = codec(spec, "cri")
    lines = [b"2024-01-01T00:00:00Z %s F %s" % (stream.encode(), text) for stream, text in events]
    records: list[dict] = []
    offsets: list[int] = []
    commits: list[tuple[int, int]] = []  # (records emitted so far, where the checkpoint may go)
    bounds = [0, *sorted({min(cut, len(lines)) for cut in cuts}), len(lines)]
    starts = starts_of(lines)
    for lo, hi in pairwise(bounds):  # arbitrary read boundaries
        if lo < hi:
            got, offs = decode(c, lines[lo:hi], base=starts[lo])
            records += got
            offsets += offs
            held = c.held_from()
            commits.append((len(records), starts[hi] if held is None else min(starts[hi], held)))
    records += flush(c)
    assert c.held_from() is None
    for stream in ("stdout", "stderr"):
        sent = [text.decode("utf-8", "replace") for s, text in events if s == stream]
        got = [line for r in records if r["stream"] == stream for line in r["message"].split("\n")]
        assert got == sent
    # the checkpoint contract: whatever is emitted later starts at or after the checkpoint of that time,
    # so a restart from the checkpoint reads it again
    for emitted, commit in commits:
        assert all(offset >= commit for offset in offsets[emitted:])


def test_endswith_lines_continue_and_the_event_is_emitted_at_its_last_line() -> None:
    c = codec("endswith")
    records, offsets = decode(c, [b"SELECT a, \\", b"  b \\", b"FROM t", b"plain", b"x \\"])
    assert [r["message"] for r in records] == ["SELECT a, \\\n  b \\\nFROM t", "plain"]
    assert offsets == [0, len(b"SELECT a, \\\n  b \\\nFROM t\n")]
    assert c.held_from() == len(b"SELECT a, \\\n  b \\\nFROM t\nplain\n")  # "x \" waits for its next line
    assert [r["message"] for r in flush(c)] == ["x \\"]


def test_endswith_custom_suffix_per_cri_stream() -> None:
    c = codec({"type": "endswith", "endswith": "+"}, "cri")
    lines = [cri("stdout", "one +"), cri("stderr", "err"), cri("stdout", "two")]
    records, _ = decode(c, lines)
    assert [(r["stream"], r["message"]) for r in records] == [("stdout", "one +\ntwo"), ("stderr", "err")]


def test_endswith_option_only_with_its_type() -> None:
    with pytest.raises(ConfigError, match="endswith goes with type: endswith"):
        build_multiline({"type": "java", "endswith": "\\"}, None)
