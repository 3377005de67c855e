"""Kibana/Lucene query syntax -> tantivy queries, with the character position of any syntax error.

Supported: free text (``error``, ``"connection refused"``), ``field:value``, ``field:"a phrase"``,
``field:(a OR b)``, ``AND``/``OR``/``NOT`` (also ``&&``, ``||``, ``!``, ``+``/``-`` prefixes), parentheses,
wildcards ``*`` and ``?`` in terms, ranges ``field:[a TO b]``, ``field:{a TO b}``, ``field:>=a``, ``field:<b``,
and ``field:*`` (the field exists). Terms without an operator between them must all match (Kibana's default).
Free text searches the message. Field names are the store's (``pod``, ``namespace``, ``level``, ...) or the
Fluentd ones (``kubernetes.pod_name``, ...).

Written by hand (rather than tantivy's own parser) for the error positions, the field aliases and wildcards on
keyword fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from podlog.store.record import parse_time_us
from podlog.store.schema import NONE, Layout

__all__ = ["Highlighter", "QuerySyntaxError", "compile_query", "parse"]


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed or compiled; ``position`` is the offending character (0-based)."""

    def __init__(self, message: str, position: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


# --- AST ---------------------------------------------------------------------------------------------------------


@dataclass
class Term:
    field: str | None
    text: str
    pos: int
    phrase: bool = False


@dataclass
class Range:
    field: str
    low: str | None
    high: str | None
    include_low: bool
    include_high: bool
    pos: int


@dataclass
class Exists:
    field: str
    pos: int


@dataclass
class Bool:
    op: str  # "and" | "or"
    items: list[Any] = field(default_factory=list)


@dataclass
class Not:
    item: Any


@dataclass
class MatchAll:
    pass


# --- lexer -------------------------------------------------------------------------------------------------------

MAX_DEPTH = 64
_SPECIAL = set('()[]{}:"\\ \t\r\n')
_TOKEN = re.compile(r"\s+")


@dataclass
class _Tok:
    kind: str  # word, phrase, lparen, rparen, colon, lbrack, rbrack, not, and, or, plus, minus, cmp, eof
    text: str
    pos: int


def _lex(q: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
            continue
        if c == '"':
            j, buf = i + 1, []
            while j < n and q[j] != '"':
                if q[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(q[j])
                j += 1
            if j >= n:
                raise QuerySyntaxError("unterminated phrase: missing closing quote", i)
            out.append(_Tok("phrase", "".join(buf), i))
            i = j + 1
            continue
        if c in "()":
            out.append(_Tok("lparen" if c == "(" else "rparen", c, i))
            i += 1
            continue
        if c in "[{":
            out.append(_Tok("lbrack", c, i))
            i += 1
            continue
        if c in "]}":
            out.append(_Tok("rbrack", c, i))
            i += 1
            continue
        if c == ":":
            out.append(_Tok("colon", c, i))
            i += 1
            continue
        if q.startswith("&&", i) or q.startswith("||", i):
            out.append(_Tok("and" if c == "&" else "or", q[i:i + 2], i))
            i += 2
            continue
        if c == "!" and (i + 1 < n and not q[i + 1].isspace()) and not q.startswith("!=", i):
            out.append(_Tok("not", c, i))
            i += 1
            continue
        if c in "+-" and (not out or out[-1].kind in ("lparen", "and", "or", "not", "plus", "minus")
                          or q[i - 1].isspace()) and i + 1 < n and not q[i + 1].isspace():
            out.append(_Tok("plus" if c == "+" else "minus", c, i))
            i += 1
            continue
        if c in "<>" and out and out[-1].kind == "colon":
            j = i + 2 if q.startswith("=", i + 1) else i + 1
            out.append(_Tok("cmp", q[i:j], i))
            i = j
            continue
        j, buf = i, []
        in_value = bool(out) and out[-1].kind in ("colon", "cmp", "lbrack", "to")  # 03:04:05 needs no escapes
        while j < n and (q[j] not in _SPECIAL or q[j] == "\\" or (in_value and q[j] == ":")):
            if q[j] == "\\" and j + 1 < n:
                j += 1
            buf.append(q[j])
            j += 1
        if j < n and q[j] == "\\":  # a trailing backslash
            raise QuerySyntaxError("a backslash must escape a character", j)
        word = "".join(buf)
        kind = {"AND": "and", "OR": "or", "NOT": "not", "TO": "to"}.get(word, "word")
        out.append(_Tok(kind, word, i))
        i = j
    out.append(_Tok("eof", "", n))
    return out


# --- parser ------------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, q: str) -> None:
        self.toks = _lex(q)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, kind: str | None = None) -> _Tok:
        tok = self.toks[self.i]
        if kind is not None and tok.kind != kind:
            raise QuerySyntaxError(f"expected {kind}, found {tok.text or 'the end'!r}", tok.pos)
        self.i += 1
        return tok

    def parse(self) -> Any:
        if self.peek().kind == "eof":
            return MatchAll()
        node = self.or_expr(None)
        tok = self.peek()
        if tok.kind != "eof":
            raise QuerySyntaxError(f"unexpected {tok.text!r}", tok.pos)
        return node

    def or_expr(self, fld: str | None) -> Any:
        items = [self.and_expr(fld)]
        while self.peek().kind == "or":
            self.take()
            items.append(self.and_expr(fld))
        return items[0] if len(items) == 1 else Bool("or", items)

    def and_expr(self, fld: str | None) -> Any:
        items = [self.unary(fld)]
        while True:
            kind = self.peek().kind
            if kind == "and":
                self.take()
                items.append(self.unary(fld))
            elif kind in ("word", "phrase", "lparen", "not", "plus", "minus"):
                items.append(self.unary(fld))
            else:
                break
        return items[0] if len(items) == 1 else Bool("and", items)

    def unary(self, fld: str | None) -> Any:
        tok = self.peek()
        if tok.kind in ("not", "minus"):
            self.take()
            return Not(self.unary(fld))
        if tok.kind == "plus":
            self.take()
        return self.primary(fld)

    def primary(self, fld: str | None) -> Any:
        tok = self.take()
        if tok.kind == "lparen":
            return self.group(fld, tok)
        if tok.kind == "phrase":
            return Term(fld, tok.text, tok.pos, phrase=True)
        if tok.kind == "word":
            if self.peek().kind == "colon":
                if fld is not None:
                    raise QuerySyntaxError("a field inside a field group", tok.pos)
                self.take()
                return self.value(tok.text, tok.pos)
            return Term(fld, tok.text, tok.pos)
        what = "the end of the query" if tok.kind == "eof" else repr(tok.text)
        raise QuerySyntaxError(f"expected a term, found {what}", tok.pos)

    def group(self, fld: str | None, opening: _Tok) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError(f"parentheses nested deeper than {MAX_DEPTH}", opening.pos)
        node = self.or_expr(fld)
        self.take("rparen")
        self.depth -= 1
        return node

    def value(self, fld: str, pos: int) -> Any:
        tok = self.peek()
        if tok.kind == "lparen":
            return self.group(fld, self.take())
        if tok.kind == "lbrack":
            return self.range(fld)
        if tok.kind == "cmp":
            self.take()
            bound = self.take()
            if bound.kind not in ("word", "phrase"):
                raise QuerySyntaxError(f"expected a value after {tok.text}", bound.pos)
            if tok.text.startswith(">"):
                return Range(fld, bound.text, None, tok.text == ">=", False, pos)
            return Range(fld, None, bound.text, False, tok.text == "<=", pos)
        if tok.kind == "phrase":
            self.take()
            return Term(fld, tok.text, pos, phrase=True)
        if tok.kind == "word":
            self.take()
            if tok.text == "*":
                return Exists(fld, pos)
            return Term(fld, tok.text, pos)
        what = "the end of the query" if tok.kind == "eof" else repr(tok.text)
        raise QuerySyntaxError(f"expected a value for {fld}, found {what}", tok.pos)

    def range(self, fld: str) -> Range:
        open_ = self.take()
        low = self.take()
        if low.kind not in ("word", "phrase"):
            raise QuerySyntaxError("expected the range's lower bound", low.pos)
        self.take("to")
        high = self.take()
        if high.kind not in ("word", "phrase"):
            raise QuerySyntaxError("expected the range's upper bound", high.pos)
        close = self.take()
        if close.kind != "rbrack":
            raise QuerySyntaxError("expected ] or } to close the range", close.pos)
        return Range(fld, None if low.text == "*" else low.text, None if high.text == "*" else high.text,
                     open_.text == "[", close.text == "]", open_.pos)


def parse(q: str) -> Any:
    """The AST of ``q``; QuerySyntaxError with the position when it is not valid."""
    return _Parser(q).parse()


# --- compiling to tantivy ----------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_JSON_PATH = re.compile(r"attrs(\.[A-Za-z0-9_@-]+)+")
_MAX_WILDCARD_TERMS = 200


def _tokens(text: str) -> list[str]:
    """What tantivy's default tokenizer makes of text: alphanumeric runs, lowercased."""
    return [t.lower() for t in _WORD.findall(text)]


def _wildcard_regex(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


class Compiler:
    def __init__(self, index: Any, layout: Layout) -> None:
        import tantivy

        self.t = tantivy
        self.index = index
        self.schema = index.schema
        self.layout = layout

    def compile(self, node: Any) -> Any:
        t = self.t
        if isinstance(node, MatchAll):
            return t.Query.all_query()
        if isinstance(node, Bool):
            return self._bool(node)
        if isinstance(node, Not):
            return t.Query.boolean_query([(t.Occur.Must, t.Query.all_query()),
                                          (t.Occur.MustNot, self.compile(node.item))])
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Range):
            return self._range(node)
        if isinstance(node, Exists):
            column, kind = self._column(node.field, node.pos)
            if kind == "keyword" and self.layout.dense:
                return self._present(column, t.Query.all_query())
            return t.Query.exists_query(column)
        raise TypeError(node)

    def _bool(self, node: Bool) -> Any:
        t = self.t
        clauses = []
        for item in node.items:
            if node.op == "and" and isinstance(item, Not):
                clauses.append((t.Occur.MustNot, self.compile(item.item)))
            else:
                clauses.append((t.Occur.Must if node.op == "and" else t.Occur.Should, self.compile(item)))
        if all(occur == t.Occur.MustNot for occur, _ in clauses):
            clauses.append((t.Occur.Must, t.Query.all_query()))
        return t.Query.boolean_query(clauses)

    def _present(self, column: str, query: Any) -> Any:
        """``query`` without the records that lack the field (they hold NONE in dense keyword columns)."""
        t = self.t
        return t.Query.boolean_query([(t.Occur.Must, query),
                                      (t.Occur.MustNot, t.Query.term_query(self.schema, column, NONE))])

    def _column(self, name: str, pos: int) -> tuple[str, str]:
        resolved = self.layout.resolve(name)
        if resolved is None:
            known = ", ".join(sorted(self.layout.columns()))
            raise QuerySyntaxError(f"field {name!r} is not indexed (searchable: {known}; the store output's "
                                   "'fields' or 'index_all_fields' options index more)", pos)
        return resolved

    def _term(self, node: Term) -> Any:
        t = self.t
        column, kind = ("message", "text") if node.field is None else self._column(node.field, node.pos)
        text = node.text
        wild = not node.phrase and ("*" in text or "?" in text)
        if kind == "text":
            if wild:
                pattern = _wildcard_regex(text.lower())
                if pattern.replace(".*", "") == "":
                    return t.Query.all_query()
                return t.Query.regex_query(self.schema, column, pattern)
            words = _tokens(text)
            if not words:
                return t.Query.all_query()
            if len(words) == 1:
                return t.Query.term_query(self.schema, column, words[0])
            return t.Query.phrase_query(self.schema, column, words)
        if kind == "keyword":
            if wild:
                regex = t.Query.regex_query(self.schema, column, _wildcard_regex(text))
                return self._present(column, regex) if self.layout.dense else regex
            return t.Query.term_query(self.schema, column, text)
        if kind == "number":
            value = self._number(text, node.pos, column)
            if column == "offset":  # a fast column only (no term index: nearly every value is distinct)
                return t.Query.range_query(self.schema, column, t.FieldType.Integer, value, value)
            return t.Query.term_query(self.schema, column, value)
        if kind == "json":
            return self._json_term(column, text, wild, node.pos)
        bound = self._time(text, node.pos)
        return t.Query.range_query(self.schema, column, t.FieldType.Integer, bound, bound + 999)

    def _json_term(self, column: str, text: str, wild: bool, pos: int) -> Any:
        """Any other record field: the value as text, or as the number it spells (JSON keeps types)."""
        t = self.t
        if wild:
            raise QuerySyntaxError(f"wildcards work on message and the keyword fields, not on "
                                   f"{column[len('attrs.'):]!r}", pos)
        options = [t.Query.term_query(self.schema, column, text)]
        if _NUMBER.fullmatch(text):
            number = float(text)
            options.append(t.Query.term_query(self.schema, column, number))
            if number.is_integer() and abs(number) < 2**63:
                options.append(t.Query.term_query(self.schema, column, int(number)))
        elif text in ("true", "false"):
            options.append(t.Query.term_query(self.schema, column, text == "true"))
        if len(options) == 1:
            return options[0]
        return t.Query.boolean_query([(t.Occur.Should, q) for q in options])

    def _number(self, text: str, pos: int, column: str) -> Any:
        try:
            value = float(text)
        except ValueError:
            raise QuerySyntaxError(f"expected a number, got {text!r}", pos) from None
        return int(value) if column == "offset" else value

    def _time(self, text: str, pos: int) -> int:
        """A time bound in µs: epoch milliseconds or an RFC 3339 date (a bare date is its midnight UTC)."""
        if re.fullmatch(r"-?\d+", text):
            return int(text) * 1000
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            text += "T00:00:00Z"
        value = parse_time_us(text)
        if value is None:
            raise QuerySyntaxError(f"expected a time (epoch ms or 2026-01-02T03:04:05Z), got {text!r}", pos)
        return value

    def _range(self, node: Range) -> Any:
        t = self.t
        column, kind = self._column(node.field, node.pos)
        lo: float
        hi: float
        if kind == "time":
            ft, lo, hi = t.FieldType.Integer, -(2**62), 2**62
            if node.low is not None:
                lo = self._time(node.low, node.pos)
            if node.high is not None:
                hi = self._time(node.high, node.pos) + (999 if node.include_high else 0)
        elif kind == "number":
            is_int = column == "offset"
            ft = t.FieldType.Integer if is_int else t.FieldType.Float
            lo, hi = (-(2**62), 2**62) if is_int else (float("-inf"), float("inf"))
            if node.low is not None:
                lo = self._number(node.low, node.pos, column)
            if node.high is not None:
                hi = self._number(node.high, node.pos, column)
        elif kind == "json":
            return self._json_range(column, node)
        elif kind == "keyword":  # tantivy's range query takes no text bounds
            raise QuerySyntaxError(f"ranges need a number or time field; {node.field!r} is a keyword field (wildcards "
                                   "work on it: pod:web-*)", node.pos)
        else:
            raise QuerySyntaxError(f"ranges need a keyword, number or time field, not {node.field!r}", node.pos)
        return t.Query.range_query(self.schema, column, ft, lo, hi, include_lower=node.include_low or node.low is None,
                                   include_upper=node.include_high or node.high is None)


    def _json_range(self, column: str, node: Range) -> Any:
        """Numeric ranges on other record fields, through tantivy's parser (it knows JSON leaves' types)."""
        bounds = [b for b in (node.low, node.high) if b is not None]
        if not _JSON_PATH.fullmatch(column) or not all(_NUMBER.fullmatch(b) for b in bounds):
            raise QuerySyntaxError(f"ranges on {column[len('attrs.'):]!r} need numbers (or index the field: "
                                   "store option 'fields')", node.pos)
        low = node.low if node.low is not None else "*"
        high = node.high if node.high is not None else "*"
        text = f"{column}:{'[' if node.include_low or node.low is None else '{'}{low} TO {high}" + \
            ("]" if node.include_high or node.high is None else "}")
        try:
            return self.index.parse_query(text, [])
        except ValueError as exc:
            raise QuerySyntaxError(f"range on {column[len('attrs.'):]!r}: {exc}", node.pos) from None


def compile_query(q: str, index: Any, layout: Layout) -> tuple[Any, Any]:
    """(tantivy query, AST) for ``q``; QuerySyntaxError for syntax errors and unknown fields."""
    ast = parse(q)
    return Compiler(index, layout).compile(ast), ast


# --- highlighting ------------------------------------------------------------------------------------------------


class Highlighter:
    """Spans of the message that the query's positive message terms match (what the UI marks)."""

    def __init__(self, ast: Any, layout: Layout) -> None:
        self.words: set[str] = set()
        self.patterns: list[re.Pattern[str]] = []
        self._collect(ast, layout, negated=False)

    def _collect(self, node: Any, layout: Layout, negated: bool) -> None:
        if isinstance(node, Bool):
            for item in node.items:
                self._collect(item, layout, negated)
        elif isinstance(node, Not):
            self._collect(node.item, layout, not negated)
        elif isinstance(node, Term) and not negated:
            resolved = ("message", "text") if node.field is None else layout.resolve(node.field)
            if resolved is None or resolved[1] != "text":
                return
            if not node.phrase and ("*" in node.text or "?" in node.text):
                pattern = _wildcard_regex(node.text.lower())
                if pattern.replace(".*", ""):
                    self.patterns.append(re.compile(pattern))
            else:
                self.words.update(_tokens(node.text))

    def spans(self, message: str) -> list[list[int]]:
        if not self.words and not self.patterns:
            return []
        out = []
        for m in _WORD.finditer(message):
            word = m.group().lower()
            if word in self.words or any(p.fullmatch(word) for p in self.patterns):
                out.append([m.start(), m.end()])
        return out
