"""The Lucene/Kibana query parser: structure, precedence and error positions (no index needed)."""

from __future__ import annotations

import pytest

from podlog.store.query import Bool, Exists, MatchAll, Not, QuerySyntaxError, Range, Term, parse
from podlog.store.schema import Layout


def test_structure_and_precedence() -> None:
    assert parse("") == MatchAll()
    assert parse("a OR b c") == Bool("or", [Term(None, "a", 0), Bool("and", [Term(None, "b", 5), Term(None, "c", 7)])])
    assert parse("a AND NOT b") == Bool("and", [Term(None, "a", 0), Not(Term(None, "b", 10))])
    assert parse("-pod:x +y") == Bool("and", [Not(Term("pod", "x", 1)), Term(None, "y", 8)])
    assert parse("pod:(a OR b)") == Bool("or", [Term("pod", "a", 5), Term("pod", "b", 10)])
    assert parse('message:"a b"') == Term("message", "a b", 0, phrase=True)
    assert parse("a && b || !c") == Bool("or", [Bool("and", [Term(None, "a", 0), Term(None, "b", 5)]),
                                                Not(Term(None, "c", 11))])
    assert parse("status:[200 TO 299}") == Range("status", "200", "299", True, False, 7)
    assert parse("status:>=500") == Range("status", "500", None, True, False, 0)
    assert parse("time:<2026-12-01T03:00:00Z") == Range("time", None, "2026-12-01T03:00:00Z", False, False, 0)
    assert parse("pod:*") == Exists("pod", 0)
    assert parse(r"path:\/api\/v1") == Term("path", "/api/v1", 0)
    assert parse("foo-bar") == Term(None, "foo-bar", 0)  # a dash inside a word is not NOT


@pytest.mark.parametrize(("q", "position", "words"), [
    ("(a", 2, "rparen"),
    ("a)", 1, "unexpected"),
    ('x "open', 2, "quote"),
    ("a AND", 5, "end of the query"),
    ("pod:", 4, "value"),
    ("status:[1 TO 2", 14, "close"),
    ("status:[1 2]", 10, "TO"),
    ("(" * 100, 64, "nested"),
])
def test_errors_point_at_the_character(q: str, position: int, words: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(q)
    assert info.value.position == position
    assert words.lower() in info.value.message.lower()


def test_field_names() -> None:
    layout = Layout(labels=["app"], fields={"status": "number"})
    assert layout.resolve("kubernetes.pod_name") == ("pod", "keyword")
    assert layout.resolve("kubernetes.labels.app") == ("l_app", "keyword")
    assert layout.resolve("status") == ("f_status", "number")
    assert layout.resolve("@timestamp") == ("ts", "time")
    assert layout.resolve("msg") == ("message", "text")
    assert layout.resolve("user.id") is None  # not indexed
    assert Layout(all_fields=True).resolve("user.id") == ("attrs.user.id", "json")
