"""Helpers the parser plugins share: decoding a batch, ``types``, and the finishing pass.

Every parser builds plain dicts first; ``Finisher`` then applies ``types``
and the time options to the whole batch in one loop, so each parser's own
loop stays small and the time cache is looked up inline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from podlog.config.options import Option
from podlog.parsers._base import Parsed
from podlog.parsers._time import TimeOptions, TimeParser, default_offset
from podlog.parsers.regexp import ruby_to_python_regex, slashed_regex  # re-exported for the parsers

__all__ = [
    "TIME_ERROR", "CommonOptions", "Finisher", "converter", "decode_lines", "parse_types", "ruby_to_python_regex",
    "slashed_regex",
]

TIME_ERROR = "time_error"
_TRUE = frozenset(("true", "yes", "on", "1", "t", "y"))
_FALSE = frozenset(("false", "no", "off", "0", "f", "n", ""))
_TYPE_NAMES = {
    "integer": "integer", "int": "integer", "long": "integer",
    "float": "float", "double": "float",
    "bool": "bool", "boolean": "bool",
    "string": "string", "str": "string",
    "time": "time", "array": "array",
}


class CommonOptions(TimeOptions):
    """Time options plus ``types``: what every field-producing parser accepts."""

    types = Option(
        "any", "",
        doc="Field conversions, Fluentd style 'code:integer,took:float,ok:bool' or a mapping; types are "
        "integer, float, bool, string, time[:format] and array[:separator]. A value that does not convert is kept.",
    )
    null_empty_string = Option("bool", False, doc="Turn empty string values into null.")
    null_value_pattern = Option("str", "", doc="Regex; string values it matches as a whole become null (e.g. '-|N/A').")


def decode_lines(messages: list[bytes]) -> list[str]:
    """The batch as text, one string per message, invalid UTF-8 replaced.

    One join and one decode for the whole batch is much cheaper than a decode
    per line; a message holding a newline makes the counts differ, and then
    each message is decoded on its own. A trailing CR (CRLF files) is dropped.
    """
    if not messages:
        return []
    text = b"\n".join(messages).decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if text.endswith("\r"):
            text = text[:-1]
    lines = text.split("\n")
    if len(lines) == len(messages):
        return lines
    out = []
    for raw in messages:
        line = str(raw, "utf-8", "replace")
        out.append(line[:-1] if line.endswith("\r") else line)
    return out


def parse_types(value: Any) -> dict[str, tuple[str, str]]:
    """``"a:integer,b:time:%s"`` or ``{"a": "integer"}`` -> {field: (type, argument)}."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        items = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, str):
        items = []
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, spec = part.strip().partition(":")
            if not sep or not key:
                raise ValueError(f"expected key:type, got {part.strip()!r}")
            items.append((key, spec))
    else:
        raise ValueError("expected 'key:type,...' or a mapping of key to type")
    out: dict[str, tuple[str, str]] = {}
    for key, spec in items:
        name, _, arg = spec.strip().partition(":")
        kind = _TYPE_NAMES.get(name.strip().lower())
        if kind is None:
            raise ValueError(f"{key}: unknown type {name!r}; use integer, float, bool, string, time or array")
        out[key] = (kind, arg)
    return out


def _to_int(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return int(v)
    try:
        return int(v)
    except ValueError:
        return int(float(v))


def _to_float(v: Any) -> Any:
    return v if isinstance(v, bool) else float(v)


def _to_bool(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return v


def _to_string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    return str(v).lower() if isinstance(v, bool) else str(v)


def converter(kind: str, arg: str, options: Any) -> Callable[[Any], Any]:
    if kind == "integer":
        return _to_int
    if kind == "float":
        return _to_float
    if kind == "bool":
        return _to_bool
    if kind == "string":
        return _to_string
    if kind == "array":
        sep = arg or ","
        return lambda v: v if isinstance(v, list) else [p.strip() for p in str(v).split(sep)]
    times = TimeParser(arg, options.time_type if not arg else "string", default_offset(options))

    def to_time(v: Any) -> Any:
        ts = times(v)
        if ts is None:
            raise ValueError("unparsable time")
        return ts

    return to_time


class Finisher:
    """Applies ``types`` and the time options to a batch of parse results, in place."""

    def __init__(self, options: Any, time: bool = True) -> None:
        try:
            types = parse_types(getattr(options, "types", ""))
        except ValueError as exc:
            raise options.error("types", str(exc)) from None
        try:
            self.converters = [(key, converter(kind, arg, options)) for key, (kind, arg) in types.items()]
        except ValueError as exc:
            raise options.error("types", str(exc)) from None
        self.time_key: str = options.time_key if time else ""
        self.keep_time_key: bool = options.keep_time_key
        self.times = TimeParser.from_options(options) if self.time_key else None
        self.typed_keys = frozenset(types)
        self.null_empty: bool = getattr(options, "null_empty_string", False)
        self.null_match: Callable[[str], Any] | None = None
        if getattr(options, "null_value_pattern", ""):
            try:
                self.null_match = re.compile(options.null_value_pattern).fullmatch
            except re.error as exc:
                raise options.error("null_value_pattern", f"invalid regular expression: {exc}") from None

    @property
    def nulls(self) -> bool:
        """Whether values may turn into null: then every record is touched."""
        return self.null_empty or self.null_match is not None

    @property
    def active(self) -> bool:
        return bool(self.converters or self.time_key or self.nulls)

    def __call__(self, results: list[Parsed]) -> list[Parsed]:
        converters = self.converters
        key = self.time_key
        times = self.times
        cache = times.cache if times is not None else {}
        keep = self.keep_time_key
        nulls = self.nulls
        null_empty = self.null_empty
        null_match = self.null_match
        for rec in results:
            if type(rec) is not dict:
                continue
            if nulls:
                for field, v in rec.items():
                    if type(v) is str and ((null_empty and not v) or (null_match is not None and null_match(v))):
                        rec[field] = None
            for field, convert in converters:
                v = rec.get(field)
                if v is not None:
                    try:
                        rec[field] = convert(v)
                    except (ValueError, TypeError, OverflowError):
                        pass  # keep what the log said
            if not key or times is None:
                continue
            v = rec.get(key)
            if v is None:
                continue
            ts = cache.get(v) if type(v) is str else None
            if ts is None:
                ts = times(v) or ""
            if ts:
                rec["@timestamp"] = ts
                if not keep:
                    del rec[key]
            else:
                rec[TIME_ERROR] = f"cannot parse {key} {str(v)[:64]!r}"
        return results

