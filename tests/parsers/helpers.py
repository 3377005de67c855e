"""Shared checks and Hypothesis strategies for the parser tests."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from podlog.config.errors import Located
from podlog.parsers._base import ParseFailure, Parser
from podlog.plugin import lookup

# Keeps the whole parser suite well under 30 s.
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that tend to break line parsers: quotes, escapes, separators, bad UTF-8.
_NASTY = [bytes([c]) for c in b'"\\ \t\n\r[]=,<>{}-\x00\xff\xc3']


def make(name: str, **options: Any) -> Parser:
    """A parser as the engine builds it: through its Options declaration."""
    cls = lookup("parser", name)
    return cls(cls.Options.from_mapping(options, Located("<test>", 1, "parser"), "parser."))


def check_contract(parser: Parser, messages: list[bytes]) -> list[Any]:
    """What every parser promises: one result per message, of the three allowed kinds, never an exception."""
    out = parser.parse(list(messages))
    assert len(out) == len(messages)
    for result in out:
        assert isinstance(result, (dict, bytes, ParseFailure)), result
        if isinstance(result, bytes):
            assert isinstance(msgspec.json.decode(result), dict)
        elif isinstance(result, dict):
            msgspec.json.encode(result)  # the record builder must be able to serialise it
        else:
            assert isinstance(result.reason, str) and result.reason
    return out


def mutated(lines: list[bytes]) -> st.SearchStrategy[bytes]:
    """Realistic lines with junk spliced in or around them."""
    junk = st.one_of(st.binary(max_size=6), st.sampled_from(_NASTY))

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        line = draw(st.sampled_from(lines))
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(line)))
            cut = draw(st.integers(0, 3))
            line = line[:at] + draw(junk) + line[at + cut:]
        return draw(junk) + line if draw(st.booleans()) else line

    return build()


def batches(lines: list[bytes]) -> st.SearchStrategy[list[bytes]]:
    """Batches mixing arbitrary bytes, arbitrary text, real lines and mangled real lines."""
    one = st.one_of(
        st.binary(max_size=200),
        st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.sampled_from(lines),
        mutated(lines),
    )
    return st.lists(one, max_size=12)
