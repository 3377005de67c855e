"""The ``parser`` filter: parse one field with any podlog parser, as Fluentd's filter_parser.

The field's values of the whole batch go to the parser in one call (parsers
work on lists). Unlike Fluentd, nothing is ever dropped: a value that does
not parse, is missing or is not a string leaves the record as it was, marked
with ``parse_error`` (the same field the tail input uses); Fluentd would send
it to ``@ERROR`` and drop it unless ``reserve_data``.

``@timestamp`` is the event time: it is kept whatever ``reserve_data`` says,
and a time the parser finds replaces it unless ``reserve_time``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from podlog.batch import Batch
from podlog.config.options import Option
from podlog.fields import delete_path, get_path, parse_key
from podlog.filters._base import Filter, Filtered
from podlog.parsers import build_parser
from podlog.parsers._base import ParseFailure

__all__ = ["ParserFilter"]

ERROR_FIELD = "parse_error"


class ParserFilter(Filter):
    """Parses the field key_name with a parser (<parse>) and merges the fields into the record."""

    name: ClassVar[str] = "parser"

    class Options(Filter.Options):
        key_name = Option("str", doc="The field to parse: a name, a dotted path or $.a.b.")
        parser = Option("any", aliases=("parse",), doc="The parser: a name (json) or a mapping with type: and its "
                        "options (Fluentd: a <parse> section or format).")
        reserve_data = Option("bool", False, doc="Keep the record's other fields beside the parsed ones (parsed "
                              "fields win a clash).")
        remove_key_name_field = Option("bool", False, doc="With reserve_data: drop key_name once it parsed.")
        reserve_time = Option("bool", False, doc="Keep the record's @timestamp even if the parser finds a time.")
        inject_key_prefix = Option("str", "", doc="Prefix for the parsed field names.")
        hash_value_field = Option("str", "", doc="Put the parsed fields under this one field instead of at the top.")
        emit_invalid_record_to_error = Option("bool", True, doc="Mark a record whose value does not parse with "
                                              "parse_error (false: keep it unmarked). It is never dropped.")
        replace_invalid_sequence = Option("bool", False, doc="Fluentd's switch for invalid UTF-8.",
                                          ignored="invalid UTF-8 is always replaced.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        try:
            self.key = parse_key(options.key_name)
        except ValueError as exc:
            raise options.error("key_name", str(exc)) from None
        where = options._where.child("parser") if options._where is not None else None
        self.parser = build_parser(options.parser, where)  # its own errors name the parser's lines
        self.parser.start()

    def stop(self) -> None:
        self.parser.stop()

    def filter(self, batch: Batch) -> Filtered:
        if not len(batch):
            return Filtered(batch, 0)
        records = batch.records
        key = self.key
        values = [get_path(r, key) for r in records]
        todo = [i for i, v in enumerate(values) if isinstance(v, str)]
        results = self.parser.parse([values[i].encode("utf-8", "surrogatepass") for i in todo]) if todo else []
        out = list(records)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                self._fail(records[i], f"no field {self.options.key_name!r}" if value is None
                           else f"field {self.options.key_name!r} is not a string")
        for i, result in zip(todo, results, strict=True):
            fields = _fields(result)
            if isinstance(fields, ParseFailure):
                self._fail(records[i], fields.reason)
            else:
                out[i] = self._merge(records[i], fields)
        batch.replace(out, batch.offsets)
        return Filtered(batch, len(out))

    def _fail(self, record: dict[str, Any], reason: str) -> None:
        if self.options.emit_invalid_record_to_error:
            record[ERROR_FIELD] = reason

    def _merge(self, record: dict[str, Any], parsed: dict[str, Any]) -> dict[str, Any]:
        opts = self.options
        found_time = parsed.pop("@timestamp", None)
        if opts.inject_key_prefix:
            parsed = {opts.inject_key_prefix + k: v for k, v in parsed.items()}
        if opts.hash_value_field:
            parsed = {opts.hash_value_field: parsed}
        if opts.reserve_data:
            if opts.remove_key_name_field:
                delete_path(record, self.key)
            record.update(parsed)
            new = record
        else:
            new = {"@timestamp": record["@timestamp"]} if "@timestamp" in record else {}
            new.update(parsed)
        if found_time is not None and not opts.reserve_time:
            new["@timestamp"] = found_time
        return new


def _fields(result: Any) -> dict[str, Any] | ParseFailure:
    """A parser's result as a fresh dict (bytes are a validated JSON object) or the failure."""
    if isinstance(result, dict):
        return result
    if isinstance(result, bytes):
        try:
            value = orjson.loads(result)
        except orjson.JSONDecodeError as exc:
            return ParseFailure(f"invalid JSON: {exc.msg}")
        return value if isinstance(value, dict) else ParseFailure("not a JSON object")
    return result if isinstance(result, ParseFailure) else ParseFailure(str(result))
