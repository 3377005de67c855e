"""CRI and docker json-file decoding, straight on the codec (no files, no threads)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from podlog.codecs.container import LineCodec, detect_format
from tests.parsers.helpers import make


def decode(codec: LineCodec, lines: list[bytes], base: int = 0) -> tuple[list[dict], list[int]]:
    docs: list[bytes] = []
    offsets: list[int] = []
    codec.decode(lines, base, docs, offsets)
    return [orjson.loads(d) for d in docs], offsets


def test_detect() -> None:
    assert detect_format(b"2024-01-01T00:00:00.1Z stdout F hi") == "cri"
    assert detect_format(b'{"log":"x\\n","stream":"stdout","time":"t"}') == "docker"
    assert detect_format(b"Jan  1 00:00:00 host app: hi") == "none"
    assert detect_format(b'{"level":"info"}') == "none"


def test_cri_partials_interleaved_across_streams() -> None:
    codec = LineCodec("cri")
    lines = [
        b"2024-01-01T00:00:00.1Z stdout P out-a ",
        b"2024-01-01T00:00:00.2Z stderr P err-a ",
        b"2024-01-01T00:00:00.3Z stdout P out-b ",
        b"2024-01-01T00:00:00.4Z stderr F err-b",
        b"2024-01-01T00:00:00.5Z stdout F out-c",
        b"2024-01-01T00:00:00.6Z stdout F whole",
    ]
    records, offsets = decode(codec, lines, base=100)
    assert [(r["stream"], r["message"]) for r in records] == [
        ("stderr", "err-a err-b"), ("stdout", "out-a out-b out-c"), ("stdout", "whole")]
    # each joined record starts where its first fragment started
    starts = [100]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    assert offsets == [starts[1], starts[0], starts[5]]
    assert records[0]["@timestamp"] == "2024-01-01T00:00:00.2Z"
    assert codec.held_from() is None


def test_cri_fragment_held_across_reads_blocks_checkpoint() -> None:
    codec = LineCodec("cri")
    records, _ = decode(codec, [b"2024-01-01T00:00:00.1Z stdout P first "], base=0)
    assert records == []
    assert codec.held_from() == 0
    records, offsets = decode(codec, [b"2024-01-01T00:00:00.2Z stdout F second"], base=40)
    assert [r["message"] for r in records] == ["first second"]
    assert offsets == [0]
    assert codec.held_from() is None


def test_cri_invalid_lines_kept_raw_with_error() -> None:
    records, _ = decode(LineCodec("cri"), [b"garbage", b'2024" stdout F x', b"2024-01-01T00:00:00Z stdout F"])
    assert records[0]["message"] == "garbage" and records[0]["parse_error"] == "invalid CRI line"
    assert records[1]["parse_error"] == "invalid CRI line"
    assert records[2]["message"] == ""


def test_docker_split_lines_joined() -> None:
    lines = [
        b'{"log":"part1 ","stream":"stdout","time":"2024-01-01T00:00:00.1Z"}',
        b'{"log":"oops\\n","stream":"stderr","time":"2024-01-01T00:00:00.2Z"}',
        b'{"log":"part2\\n","stream":"stdout","time":"2024-01-01T00:00:00.3Z"}',
        b"not json",
    ]
    records, _ = decode(LineCodec("docker"), lines)
    assert [(r["stream"], r["message"]) for r in records[:2]] == [("stderr", "oops"), ("stdout", "part1 part2")]
    assert records[2]["parse_error"] == "invalid docker json-file line"


def test_invalid_utf8_replaced_and_marked() -> None:
    records, _ = decode(LineCodec("cri"), [b"2024-01-01T00:00:00Z stdout F caf\xe9 ok"])
    assert records[0]["message"] == "caf\ufffd ok"
    assert records[0]["podlog"] == {"invalid_utf8": True}
    records, _ = decode(LineCodec("none"), [b"\xff\xfe"])
    assert records[0]["podlog"] == {"invalid_utf8": True}


def test_json_lift_splices_and_handles_clashes() -> None:
    codec = LineCodec("cri", {"kubernetes": {"pod_name": "p"}}, lift_json=True)
    records, _ = decode(codec, [
        b'2024-01-01T00:00:00Z stdout F {"level":"info","n":1}',
        b'2024-01-01T00:00:00Z stdout F {"stream":"mine","x":2}',
        b'2024-01-01T00:00:00Z stdout F {"broken":',
        b"2024-01-01T00:00:00Z stdout F plain text",
        b"2024-01-01T00:00:00Z stdout F {}",
    ])
    assert records[0] == {"@timestamp": "2024-01-01T00:00:00Z", "stream": "stdout",
                          "kubernetes": {"pod_name": "p"}, "level": "info", "n": 1}
    assert records[1]["stream"] == "stdout" and records[1]["payload"] == {"stream": "mine"} and records[1]["x"] == 2
    assert records[2]["message"] == '{"broken":' and records[2]["parse_error"].startswith("invalid JSON")
    assert records[3]["message"] == "plain text" and "parse_error" not in records[3]
    assert "message" not in records[4]


def test_constant_fields_with_percent_signs_survive_templating() -> None:
    records, _ = decode(LineCodec("cri", {"path": "/var/log/100%.log"}), [b"2024-01-01T00:00:00Z stdout F a%sb"])
    assert records[0]["path"] == "/var/log/100%.log" and records[0]["message"] == "a%sb"


def test_cri_chunk_escaping_falls_back_when_the_cut_is_ambiguous() -> None:
    """Lines are escaped a chunk at a time and cut at the escaped NUL: NULs, the text \\u0000,
    control characters in the time and backslashes must all still come out exactly."""
    messages = [b"plain", b"tab\there", b'quote " and \\ slash', b"text \\u0000 here", b"nul \x00 byte",
                b"ends with \\", "unicode \u00e9\u4e2d".encode()]
    for message in messages:
        lines = [b"2024-01-01T00:00:00.1Z stdout F before", b"2024-01-01T00:00:00.2Z stdout F " + message,
                 b"2024-01-01T00:00:00.3Z stderr F after"]
        records, offsets = decode(LineCodec("cri"), lines, base=7)
        assert [r["message"] for r in records] == ["before", message.decode(), "after"]
        assert offsets == [7, 7 + len(lines[0]) + 1, 7 + len(lines[0]) + len(lines[1]) + 2]
    records, _ = decode(LineCodec("cri"), [b"2024-01-01T00:00:00.1Z\t stdout F x",
                                           b"2024-01-01T00:00:00.2Z stdout F y"])
    # a control character in the time leaves the fast loop, so the document stays valid JSON
    assert records[0]["@timestamp"] == "2024-01-01T00:00:00.1Z\t" and records[1]["message"] == "y"


def test_parsed_records_spliced_like_the_general_path() -> None:
    """The batched path for parsed dicts writes what the dict merge did; clashes still go under payload."""
    results = [{"@timestamp": "2024-01-01T00:00:00Z", "a": 1}, {"b": "x"}, {"stream": "mine", "c": 2},
               {"@timestamp": 5, "d": 3}, {}]
    codec = LineCodec("cri", {"kubernetes": {"pod_name": "p"}}, parse=lambda msgs: [dict(r) for r in results])
    lines = [f"2024-05-01T00:00:0{i}Z stdout F m{i}".encode() for i in range(len(results))]
    docs: list[bytes] = []
    codec.decode(lines, 0, docs, [])
    records = [orjson.loads(d) for d in docs]
    expected = [codec.builder.document(ts, b"stdout", msg, None, dict(r)) for ts, msg, r in
                zip([line.split(b" ")[0] for line in lines], [line.split(b" ", 3)[3] for line in lines], results,
                    strict=True)]
    assert docs == expected
    assert records[0]["@timestamp"] == "2024-01-01T00:00:00Z" and records[1]["@timestamp"] == "2024-05-01T00:00:01Z"
    assert records[2]["payload"] == {"stream": "mine"} and records[3]["payload"] == {"@timestamp": 5}
    plain = LineCodec("none", parse=lambda msgs: [{"@timestamp": "2024-01-01T00:00:00Z", "x": m.decode()}
                                                    for m in msgs])
    docs = []
    plain.decode([b"one", b"two"], 0, docs, [], b"2024-06-01T00:00:00Z")
    assert docs == [b'{"@timestamp":"2024-01-01T00:00:00Z","x":"one"}',
                    b'{"@timestamp":"2024-01-01T00:00:00Z","x":"two"}']


def test_joined_fragments_are_cut_into_marked_pieces_past_the_limit() -> None:
    """A process that never writes a newline must not make the agent hold its output forever."""
    codec = LineCodec("cri")
    codec.limit.size = 25
    frag = [b"2024-01-01T00:00:00.%dZ stdout P %s" % (i, b"%d" % i * 10) for i in range(1, 6)]
    first, _ = decode(codec, [*frag[:2], b"2024-01-01T00:00:00.9Z stderr F other"])
    assert [(r["message"], r.get("podlog")) for r in first] == [("other", None)]
    assert codec.held_from() == 0  # two fragments (20 bytes) held
    rest, more = decode(codec, [*frag[2:], b"2024-01-01T00:00:01Z stdout F end", b"2024-01-01T00:00:02Z stdout F x"],
                        base=200)
    assert [(r["message"], r.get("podlog")) for r in rest] == [
        ("1" * 10 + "2" * 10 + "3" * 10, {"split": 0}),   # over 25 bytes with the third fragment
        ("4" * 10 + "5" * 10 + "end", {"split": 1}),       # the line's end closes the last piece
        ("x", None)]
    assert more[0] == 0 and codec.held_from() is None


def test_docker_fragments_cut_too_and_end_of_file_marks_the_piece() -> None:
    codec = LineCodec("docker")
    codec.limit.size = 10
    lines = [orjson.dumps({"log": c * 6, "stream": "stdout", "time": "2024-01-01T00:00:00Z"}) for c in "abc"]
    records, _ = decode(codec, lines)
    assert [(r["message"], r["podlog"]) for r in records] == [("aaaaaabbbbbb", {"split": 0})]
    docs: list[bytes] = []
    codec.flush_partials(docs, [])
    assert [(orjson.loads(d)["message"], orjson.loads(d)["podlog"]) for d in docs] == [
        ("cccccc", {"incomplete": True, "split": 1})]


def test_parser_documents_match_the_general_path() -> None:
    """nginx writes whole documents for its usual lines; every document is what the dict path writes."""
    parser = make("nginx")
    good = b'10.0.0.7 - - [02/Jan/2024:03:04:05 +0000] "GET /x HTTP/1.1" 200 612 "-" "curl/8.5.0"'
    odd = [good.replace(b"Jan", b"Foo"), good.replace(b"/x", b"/\\x22"), b"not an access line", good + b" xff"]
    for fmt, fields, lines in (
        ("none", {}, [good, *odd, good]),
        ("none", {"file": "/var/log/a%s.log"}, [good, b"\xff", good]),  # invalid UTF-8: the whole read marked
        ("cri", {"kubernetes": {"pod_name": "p"}},
         [b"2024-05-01T00:00:0%dZ %s F %s" % (i, b"stdout" if i % 2 else b"stderr", m)
          for i, m in enumerate([good, *odd])]),
    ):
        fast, slow = LineCodec(fmt, fields, parse=parser.parse), LineCodec(fmt, fields, parse=lambda m: parser.parse(m))
        assert fast.builder.documents is not None and slow.builder.documents is None
        docs: list[list[bytes]] = [[], []]
        for codec, out in zip((fast, slow), docs, strict=True):
            codec.decode(lines, 0, out, [], b"2024-06-01T00:00:00Z")
        assert docs[0] == docs[1] and len(docs[0]) == len(lines)
    assert LineCodec("none", {"host": "n1"}, parse=parser.parse).builder.documents is None  # a key of ours: dict path


def test_json_payload_with_invalid_utf8_is_lifted_replaced_and_marked_never_spliced_raw() -> None:
    for fmt, line in (("cri", b'2024-01-01T00:00:00Z stdout F {"a":"bad \xff"}'), ("none", b'{"a":"bad \xff"}')):
        records, _ = decode(LineCodec(fmt, lift_json=True), [line, line.replace(b"\xff", b"ok")])
        assert records[0]["a"] == "bad \ufffd" and records[0]["podlog"] == {"invalid_utf8": True}
        assert records[1]["a"] == "bad ok" and "podlog" not in records[1]


_PAYLOAD = st.one_of(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
                     st.sampled_from([b'{"a":1}', b'{"stream":"x"}', b'{"a":"\xff"}', b'{"a":1,}', b"[1]",
                                      b'{"a":"\\u0000"}', b'{"@timestamp":"t"}', b"plain \xfe text", b"{}"]))
_CRI = st.builds(lambda ts, stream, flag, payload: b"%s %s %s %s" % (ts, stream, flag, payload),
                 st.sampled_from([b"2024-01-01T00:00:00.5Z", b"2024-01-01T00:00:01Z", b'2024"']),
                 st.sampled_from([b"stdout", b"stderr"]), st.sampled_from([b"F", b"F", b"P"]), _PAYLOAD)
_DOCKER = st.builds(lambda log, end: orjson.dumps({"log": log.decode("utf-8", "replace") + end, "stream": "stdout",
                                                   "time": "2024-01-01T00:00:00Z"}),
                    _PAYLOAD, st.sampled_from(["\n", "\n", ""]))
_LINES = {"cri": _CRI, "docker": _DOCKER, "none": _PAYLOAD}


@settings(max_examples=1000, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(["cri", "docker", "none"]), lift=st.booleans())
def test_every_document_is_a_valid_json_object_whatever_the_input(data: st.DataObject, fmt: str, lift: bool) -> None:
    """Elasticsearch refuses a whole document for one bad byte: the codec must never emit one."""
    lines = data.draw(st.lists(st.one_of(_LINES[fmt], _PAYLOAD), min_size=1, max_size=12))
    codec = LineCodec(fmt, {"kubernetes": {"pod_name": "p%"}}, lift_json=lift)
    docs: list[bytes] = []
    offsets: list[int] = []
    codec.decode(lines, 0, docs, offsets)
    codec.flush_partials(docs, offsets)
    assert len(docs) == len(offsets)
    for doc in docs:
        record = orjson.loads(doc)
        assert isinstance(record, dict) and "@timestamp" in record


def test_payload_keys_written_with_escapes_still_count_as_clashes() -> None:
    codec = LineCodec("cri", {"kubernetes": {"pod_name": "p"}}, lift_json=True)
    records, _ = decode(codec, [b'2024-01-01T00:00:00Z stdout F {"str\\u0065am":"mine","a":1}',
                                b'2024-01-01T00:00:00Z stdout F {"a":1,"kubernetes":{"x":1}}',
                                b'2024-01-01T00:00:00Z stdout F {}'])
    assert records[0]["stream"] == "stdout" and records[0]["payload"] == {"stream": "mine"} and records[0]["a"] == 1
    assert records[1]["kubernetes"] == {"pod_name": "p"} and records[1]["payload"] == {"kubernetes": {"x": 1}}
    assert records[2]["stream"] == "stdout"


def test_truncate_mode_keeps_the_first_piece_and_drops_the_rest_of_the_joined_line() -> None:
    codec = LineCodec("cri")
    codec.limit.size, codec.limit.truncate = 25, True
    lines = [b"2024-01-01T00:00:00.%dZ stdout P %s" % (i, b"%d" % i * 10) for i in range(1, 6)]
    lines += [b"2024-01-01T00:00:01Z stderr F other", b"2024-01-01T00:00:02Z stdout F end of the long one",
              b"2024-01-01T00:00:03Z stdout F next"]
    records, offsets = decode(codec, lines)
    assert [(r["message"], r.get("podlog")) for r in records] == [
        ("1" * 10 + "2" * 10 + "33333", {"truncated": True}), ("other", None), ("next", None)]
    assert offsets[0] == 0 and codec.held_from() is None
    docker = LineCodec("docker")
    docker.limit.size, docker.limit.truncate = 10, True
    ends = ["", "", "", "\n"]
    frags = [orjson.dumps({"log": c * 6 + end, "stream": "stdout", "time": "t"})
             for c, end in zip("abcd", ends, strict=True)]
    records, _ = decode(docker, [*frags, orjson.dumps({"log": "after\n", "stream": "stdout", "time": "t"})])
    assert [(r["message"], r.get("podlog")) for r in records] == [("aaaaaabbbb", {"truncated": True}),
                                                                   ("after", None)]
