"""The ``json`` parser: one JSON object per line, usually passed through as bytes.

Most JSON logs need no change, so a validated line is handed back as the
original bytes and the record builder splices it into the output document:
nothing is decoded into Python objects or encoded again. Only lines whose
keys need work (the time key, ``types``) become dicts.

Known gap: the key-only validation does not range-check numbers, so a line
holding ``1e999`` is passed on as bytes; a decoder that refuses infinities
(orjson) rejects it later, msgspec reports a ValidationError.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from podlog.config.options import Option
from podlog.parsers._base import Parsed, ParseFailure, Parser
from podlog.parsers._util import CommonOptions, Finisher

__all__ = ["JsonParser"]

# Validates the whole document and gives the keys, without building the values.
_KEYS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()
_DecodeError = msgspec.DecodeError
_WHITESPACE = b" \t\r\n"


class JsonParser(Parser):
    """Parses JSON object lines; anything else (arrays, numbers, bad JSON) is a ParseFailure."""

    name: ClassVar[str] = "json"

    class Options(Parser.Options, CommonOptions):
        time_key = Option("str", "time", doc="Field holding the event time; it becomes @timestamp. Empty: no time.")
        json_parser = Option("str", "", doc="Fluentd's JSON library (oj, yajl, json).", ignored="podlog uses msgspec.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.finish = Finisher(options)
        self.keys = frozenset(self.finish.typed_keys | ({options.time_key} if options.time_key else set()))
        self.always_dict = self.finish.nulls  # null options may touch any value

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        if self.always_dict:
            return self.finish([_as_dict(raw) for raw in messages])
        keys_of = _KEYS.decode
        decode = _ANY.decode
        keys = self.keys
        # Lines of one stream look alike: after a line that needed a dict, decode
        # the next one fully straight away instead of validating it twice.
        expect_dict = False
        out: list[Parsed] = []
        append = out.append
        for raw in messages:
            try:
                if expect_dict:
                    obj = decode(raw)
                    if type(obj) is not dict:
                        append(ParseFailure("not a JSON object"))
                    elif keys.isdisjoint(obj):
                        expect_dict = False
                        append(raw if raw[0] == 0x7B and raw[-1] == 0x7D else raw.strip(_WHITESPACE))
                    else:
                        append(obj)
                    continue
                fields = keys_of(raw)
                if not raw.isascii():
                    raw.decode("utf-8")  # Raw values are not checked for UTF-8; splicing needs it
                if keys and not keys.isdisjoint(fields):
                    expect_dict = True
                    append(decode(raw))
                    continue
                append(raw if raw[0] == 0x7B and raw[-1] == 0x7D else raw.strip(_WHITESPACE))
            except (_DecodeError, UnicodeDecodeError):
                append(_as_dict(raw))
            except Exception as exc:  # never let one line break the batch
                append(ParseFailure(f"invalid JSON: {exc}"))
        return self.finish(out) if keys else out


def _as_dict(raw: bytes) -> Parsed:
    """The slow way: a full decode; invalid UTF-8 is replaced with U+FFFD rather than failing the line."""
    try:
        try:
            obj = _ANY.decode(raw)
        except (UnicodeDecodeError, _DecodeError):  # msgspec >= 0.23 reports bad UTF-8 as a DecodeError
            text = str(raw, "utf-8", "replace")
            if text.encode() == raw:
                raise  # valid UTF-8: the JSON itself is broken
            obj = _ANY.decode(text)
    except Exception as exc:  # DecodeError, and anything else: never let one line break the batch
        return ParseFailure(f"invalid JSON: {exc}")
    return obj if type(obj) is dict else ParseFailure("not a JSON object")
