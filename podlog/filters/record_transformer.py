"""The ``record_transformer`` filter: add, rename and remove fields, as Fluentd's filter_record_transformer.

Values in ``record`` are templates, compiled once when the agent starts:
``${record["a"]["b"]}``, ``${record.dig("a", "b")}``, ``${a}`` (a top-level
field), ``${tag}``, ``${tag_parts[N]}``, ``${tag_prefix[N]}``,
``${tag_suffix[N]}``, ``${hostname}`` and ``${time}`` (the record's
``@timestamp``). Nothing is evaluated: podlog does not run Ruby, so
``enable_ruby`` only allows these same forms and any other expression is a
config error. Tag placeholders are resolved once per batch; only the record
ones run per record.

Order: ``renew_record``/``keep_keys`` pick the starting fields, then
``rename_keys``, then ``record`` (templates read the record as it came in),
then ``remove_keys``. ``@timestamp`` is the event time, so a renewed record
keeps it, as Fluentd keeps the event time outside the record.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any, ClassVar

from podlog.batch import Batch
from podlog.config.options import Option
from podlog.fields import Key, as_text, delete_path, get_path, parse_key, set_path
from podlog.filters._base import Filter, Filtered

__all__ = ["RecordTransformerFilter", "compile_template"]

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_STR = r"""\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+))\s*"""
_RECORD = re.compile(rf"record((?:\[{_STR}\])+)")
_SUBSCRIPT = re.compile(rf"\[{_STR}\]")
_DIG = re.compile(rf"record\.dig\(({_STR}(?:,{_STR})*)\)")
_DIG_ARG = re.compile(_STR)
_TAG = re.compile(r"(tag_parts|tag_prefix|tag_suffix)\[\s*(-?\d+)\s*\]")
_FIELD = re.compile(r"[A-Za-z_@][\w@-]*")

# A compiled template: given the batch's tag, a function of the record.
Bound = Callable[[dict[str, Any]], Any]


class RecordTransformerFilter(Filter):
    """Adds fields from templates (${record["k"]}, ${tag}...), renames, keeps or removes fields."""

    name: ClassVar[str] = "record_transformer"

    class Options(Filter.Options):
        record = Option("dict", {}, doc='Fields to set: name -> value; string values are templates like '
                        '${record["kubernetes"]["namespace_name"]}, ${tag_parts[1]} or ${hostname}.')
        remove_keys = Option("list", [], doc="Fields to remove (after adding); dotted paths or $.a.b.")
        keep_keys = Option("list", [], doc="Start from only these fields (implies renew_record; Fluentd honours "
                           "it only with renew_record true).")
        renew_record = Option("bool", False, doc="Start from an empty record (@timestamp, the event time, stays).")
        rename_keys = Option("any", {}, doc="podlog extension: rename fields, {old: new} or 'old:new,a.b:c'; "
                             "applied before record is added.")
        auto_typecast = Option("bool", False, doc="A value that is a single placeholder keeps the field's type "
                               "(number, object...) instead of becoming a string.")
        enable_ruby = Option("bool", False, doc="Fluentd's switch for Ruby in ${...}.",
                             ignored="podlog runs no Ruby; the placeholders listed above work "
                             "either way, anything else is a config error.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.fields: list[tuple[Key, _Template]] = []
        for key, value in options.record.items():
            try:
                self.fields.append((parse_key(str(key)), compile_template(value, options.auto_typecast)))
            except ValueError as exc:
                raise options.error("record", f"{key}: {exc}") from None
        try:
            self.remove = [parse_key(k) for k in options.remove_keys]
            self.keep = [parse_key(k) for k in options.keep_keys]
            self.renames = [(parse_key(a), parse_key(b)) for a, b in _pairs(options.rename_keys)]
        except ValueError as exc:
            raise options.error("remove_keys", str(exc)) from None
        self.renew = options.renew_record or bool(self.keep)

    def filter(self, batch: Batch) -> Filtered:
        if not len(batch):
            return Filtered(batch, 0)
        bound = [(key, template.bind(batch.tag)) for key, template in self.fields]
        records = batch.records
        out = [self._one(record, bound) for record in records]
        if self.renew:
            batch.replace(out, batch.offsets)
        return Filtered(batch, len(out))

    def _one(self, record: dict[str, Any], bound: list[tuple[Key, Bound]]) -> dict[str, Any]:
        values = [(key, fn(record)) for key, fn in bound]  # templates read the record as it came in
        if self.renew:
            new: dict[str, Any] = {}
            if "@timestamp" in record:
                new["@timestamp"] = record["@timestamp"]
            for key in self.keep:
                value = get_path(record, key)
                if value is not None:
                    set_path(new, key, value)
            record = new
        for old, new_key in self.renames:
            if get_path(record, old) is not None:
                set_path(record, new_key, delete_path(record, old))
        for key, value in values:
            if len(key) == 1:
                record[key[0]] = value
            else:
                set_path(record, key, value)
        for key in self.remove:
            delete_path(record, key)
        return record


def _pairs(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    items = value if isinstance(value, list) else str(value).split(",")
    out = []
    for item in items:
        old, sep, new = str(item).partition(":")
        if not sep or not old.strip() or not new.strip():
            raise ValueError(f"rename_keys: expected old:new, got {item!r}")
        out.append((old.strip(), new.strip()))
    return out


# --- templates


class _Template:
    """A compiled value: ``bind(tag)`` gives the per-record function."""

    def bind(self, tag: str) -> Bound:
        raise NotImplementedError


class _Const(_Template):
    def __init__(self, value: Any) -> None:
        self.value = value

    def bind(self, tag: str) -> Bound:
        value = self.value
        return lambda _record: value


class _Text(_Template):
    """Literal text with placeholders: tag parts fixed per batch, record parts per record."""

    def __init__(self, parts: list[str | Key | Callable[[str], str]]) -> None:
        self.parts = parts

    def bind(self, tag: str) -> Bound:
        parts: list[str | Key] = []
        for part in self.parts:
            resolved = part(tag) if callable(part) else part
            if parts and isinstance(resolved, str) and isinstance(parts[-1], str):
                parts[-1] += resolved  # fold constants: fewer joins per record
            else:
                parts.append(resolved)
        if all(isinstance(p, str) for p in parts):
            text = "".join(parts)  # type: ignore[arg-type]
            return lambda _record: text
        return lambda record: "".join(p if isinstance(p, str) else as_text(get_path(record, p)) for p in parts)


class _Single(_Template):
    """A value that is one placeholder and nothing else: keeps the field's type (auto_typecast)."""

    def __init__(self, source: Key | Callable[[str], str]) -> None:
        self.source = source

    def bind(self, tag: str) -> Bound:
        source = self.source
        if callable(source):
            text = source(tag)
            return lambda _record: text
        if len(source) == 1:
            name = source[0]
            return lambda record: record.get(name)
        return lambda record: get_path(record, source)


class _Nested(_Template):
    """A mapping or list value: its strings are templates too."""

    def __init__(self, value: dict[str, Any] | list[Any], auto_typecast: bool) -> None:
        self.items = {k: compile_template(v, auto_typecast) for k, v in
                      (value.items() if isinstance(value, dict) else enumerate(value))}
        self.is_list = isinstance(value, list)

    def bind(self, tag: str) -> Bound:
        bound = {k: t.bind(tag) for k, t in self.items.items()}
        if self.is_list:
            return lambda record: [fn(record) for fn in bound.values()]
        return lambda record: {k: fn(record) for k, fn in bound.items()}


def compile_template(value: Any, auto_typecast: bool = False) -> _Template:
    """Compile a ``record`` value once; raises ValueError naming an expression podlog cannot evaluate."""
    if isinstance(value, (dict, list)):
        return _Nested(value, auto_typecast)
    if not isinstance(value, str) or "${" not in value:
        return _Const(value)
    parts: list[str | Key | Callable[[str], str]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(value):
        if m.start() > pos:
            parts.append(value[pos : m.start()])
        parts.append(_placeholder(m.group(1).strip()))
        pos = m.end()
    if pos < len(value):
        parts.append(value[pos:])
    if len(parts) == 1 and not isinstance(parts[0], str) and auto_typecast:
        return _Single(parts[0])
    return _Text(parts)


def _placeholder(expr: str) -> Key | Callable[[str], str]:
    """One ``${...}``: a field path, or a function of the tag."""
    if expr == "tag":
        return lambda tag: tag
    if expr == "hostname":
        host = socket.gethostname()
        return lambda _tag: host
    if expr == "time":
        return ("@timestamp",)
    m = _TAG.fullmatch(expr)
    if m:
        return _tag_part(m.group(1), int(m.group(2)))
    m = _RECORD.fullmatch(expr)
    if m:
        return tuple(_str_arg(s) for s in _SUBSCRIPT.finditer(m.group(1)))
    m = _DIG.fullmatch(expr)
    if m:
        return tuple(_str_arg(s) for s in _DIG_ARG.finditer(m.group(1)) if s.group(0).strip())
    if _FIELD.fullmatch(expr):
        return (expr,)  # Fluentd's ${field} shorthand for record["field"]
    raise ValueError(f"${{{expr}}} is not a placeholder podlog knows (podlog does not run Ruby); use "
                     '${record["a"]["b"]}, ${record.dig("a","b")}, ${tag}, ${tag_parts[N]}, ${tag_prefix[N]}, '
                     "${tag_suffix[N]}, ${hostname} or ${time}")


def _str_arg(m: re.Match[str]) -> str:
    text = m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)
    return re.sub(r"\\(.)", r"\1", text)


def _tag_part(kind: str, n: int) -> Callable[[str], str]:
    """Fluentd's tag_parts[N] (one part), tag_prefix[N] (parts 0..N), tag_suffix[N] (parts N..end)."""

    def part(tag: str) -> str:
        parts = tag.split(".")
        if not -len(parts) <= n < len(parts):
            return ""
        if kind == "tag_parts":
            return parts[n]
        if kind == "tag_prefix":
            return ".".join(parts[: n + 1 if n >= 0 else len(parts) + n + 1])
        return ".".join(parts[n:])

    return part
