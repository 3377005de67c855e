"""Record building on its own: the columnar batch and the general path's one-parser-call build."""

from __future__ import annotations

import orjson

from podlog.codecs.records import RecordBuilder, Records
from tests.parsers.helpers import make


def mixed() -> Records:
    """Plain rows, an envelope error and a cut piece, out of order."""
    recs = Records()
    recs.add(30, b"2024-01-01T00:00:03Z", b"stdout", b'{"a":1}')
    recs.add_error(10, b"garbage", "invalid CRI line")
    recs.add_cut(20, b"2024-01-01T00:00:02Z", b"stderr", b'{"b":', {"split": 0})
    recs.add(5, None, None, b"plain \xff")
    recs.marks[0] = {"incomplete": True}
    return recs


def test_sorted_by_at_carries_the_sparse_parts_with_their_rows() -> None:
    recs = mixed().sorted_by_at()
    assert recs.at == [5, 10, 20, 30]
    assert recs.message == [b"plain \xff", b"garbage", b'{"b":', b'{"a":1}']
    assert recs.errors == {1: "invalid CRI line"} and recs.cuts == {2: {"split": 0}}
    assert recs.marks == {3: {"incomplete": True}}


def test_copy_row_keeps_error_and_cut() -> None:
    source = mixed()
    out = Records()
    for k in range(len(source)):
        out.copy_row(source, k, 100 + k, {"n": k} if k == 2 else None)
    assert out.at == [100, 101, 102, 103] and out.message == source.message
    assert out.errors == {1: "invalid CRI line"} and out.cuts == {2: {"split": 0}} and out.marks == {2: {"n": 2}}


def test_build_writes_per_row_what_document_writes_one_at_a_time() -> None:
    """The batch path (one parser call, spliced documents) and the one-record path agree, row for row."""
    for builder in (RecordBuilder({"kubernetes": {"pod_name": "p"}}),
                    RecordBuilder({"kubernetes": {"pod_name": "p"}}, lift_json=True),
                    RecordBuilder({"kubernetes": {"pod_name": "p"}}, parse=make("json").parse)):
        recs = mixed()
        built = builder.build(recs)
        one = [builder.document(ts, stream, msg, recs.errors.get(k), flags=recs.cuts.get(k))
               if k in recs.errors or k in recs.cuts or builder.parse is None
               else builder.document(ts, stream, msg, None, builder.parse([msg])[0])
               for k, (ts, stream, msg) in enumerate(zip(recs.time, recs.stream, recs.message, strict=True))]
        records = [orjson.loads(d) for d in built]
        expected = [orjson.loads(d) for d in one]
        for k in (1, 3):  # no envelope time: the time of the build, which differs
            records[k].pop("@timestamp"), expected[k].pop("@timestamp")
        assert records == expected
        assert records[1]["parse_error"] == "invalid CRI line" and records[2]["podlog"] == {"split": 0}
        assert records[3]["podlog"] == {"invalid_utf8": True}


def test_parser_documents_skip_errors_and_cuts() -> None:
    """A parser writing whole documents (nginx) gets only the rows it may parse; the rest go the general way."""
    line = (b'10.0.0.1 - - [01/May/2024:12:00:00 +0000] "GET /x HTTP/1.1" 200 5 "-" "curl/8"')
    builder = RecordBuilder({"kubernetes": {"pod_name": "p"}}, parse=make("nginx").parse)
    assert builder.documents is not None
    recs = Records()
    recs.add(0, b"2024-01-01T00:00:00Z", b"stdout", line)
    recs.add_cut(1, b"2024-01-01T00:00:00Z", b"stdout", line, {"truncated": True})
    recs.add_error(2, line, "invalid CRI line")
    parsed, cut, error = (orjson.loads(d) for d in builder.build(recs))
    assert parsed["method"] == "GET" and parsed["stream"] == "stdout" and "message" not in parsed
    assert cut["message"] == line.decode() and cut["podlog"] == {"truncated": True} and "method" not in cut
    assert error["parse_error"] == "invalid CRI line" and "method" not in error


def test_plain_lines_share_the_read_time() -> None:
    builder = RecordBuilder()
    docs = builder.plain([b"a", b"b\xff"], b"2024-01-01T00:00:00Z")
    assert [orjson.loads(d) for d in docs] == [
        {"@timestamp": "2024-01-01T00:00:00Z", "message": "a"},
        {"@timestamp": "2024-01-01T00:00:00Z", "message": "b\ufffd", "podlog": {"invalid_utf8": True}}]
