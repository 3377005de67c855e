"""Fluentd tag patterns and the route table (Fluentd's <match>/<filter> semantics, as its docs state them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podlog.router import Router, TagPattern


@pytest.mark.parametrize(("pattern", "matches", "misses"), [
    ("a.*", ["a.b"], ["a", "a.b.c", "b.a", "ab"]),
    ("a.**", ["a", "a.b", "a.b.c"], ["ab", "b.a", "xa.b"]),
    ("**", ["a", "a.b.c", ""], []),
    ("**.b", ["b", "a.b", "x.y.b"], ["a.bc", "b.a"]),
    ("a.**.z", ["a.z", "a.b.z", "a.b.c.z"], ["a.b", "az", "a.zz"]),
    ("a.{b,c}", ["a.b", "a.c"], ["a.d", "a.bc", "a.b.c"]),
    ("a.{b,c}.*", ["a.b.x", "a.c.y"], ["a.b", "a.d.x"]),
    ("{kube,docker}.**", ["kube", "kube.var.log", "docker.x"], ["kubelet", "k8s.x"]),
    ("a.b c.**", ["a.b", "c", "c.d"], ["a", "a.c", "b"]),  # <match a.b c.**>: either pattern
    ("kube.var.log.containers.*.log", ["kube.var.log.containers.web_ns_app-1.log"],
     ["kube.var.log.containers.x.y.log"]),
    ("a+b.[x]", ["a+b.[x]"], ["aab.x", "a+b.x"]),  # regex characters are literal
])
def test_fluentd_tag_patterns(pattern: str, matches: list[str], misses: list[str]) -> None:
    p = TagPattern(pattern)
    assert [t for t in matches if not p.match(t)] == []
    assert [t for t in misses if p.match(t)] == []


@pytest.mark.parametrize("bad", ["", "   ", "a.{b,c"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        TagPattern(bad)


def test_first_match_wins_and_every_keeps_config_order() -> None:
    router = Router([(TagPattern("a.b"), "exact"), (TagPattern("a.**"), "prefix"), (TagPattern("**"), "all")])
    assert router.first("a.b") == "exact"
    assert router.first("a.c") == "prefix"
    assert router.first("z") == "all"
    assert router.every("a.b") == ["exact", "prefix", "all"]
    assert router.every("z") == ["all"]
    assert Router([(TagPattern("x"), 1)]).first("y") is None


tags = st.lists(st.sampled_from(["a", "b", "kube", "var", "log"]), min_size=1, max_size=5).map(".".join)


@given(st.lists(st.sampled_from(["a.*", "a.**", "**.log", "{a,b}.*", "kube.**", "b"]), min_size=1, max_size=4),
       st.lists(tags, min_size=1, max_size=20))
def test_cached_answers_equal_fresh_ones(patterns: list[str], seen: list[str]) -> None:
    router = Router([(TagPattern(p), n) for n, p in enumerate(patterns)])
    for tag in seen + seen:  # the second pass is served from the cache
        fresh = [n for n, p in enumerate(patterns) if TagPattern(p).match(tag)]
        assert router.every(tag) == fresh
        assert router.first(tag) == (fresh[0] if fresh else None)
