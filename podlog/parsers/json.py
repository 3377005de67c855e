"""The ``json`` parser: one JSON object per line, usually passed through as bytes.

Most JSON logs need no change, so a validated line is handed back as the
original bytes and the record builder splices it into the output document:
nothing is decoded into Python objects or encoded again. Only lines whose
keys need work (the time key, ``types``) become dicts.
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

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        self.finish = Finisher(options)
        # Keys that force a dict; their quoted form lets a line skip the key scan.
        self.keys = frozenset(self.finish.typed_keys | ({options.time_key} if options.time_key else set()))
        self.needles = tuple(msgspec.json.encode(k) for k in self.keys)

    def parse(self, messages: list[bytes]) -> list[Parsed]:
        keys_of = _KEYS.decode
        decode = _ANY.decode
        keys = self.keys
        needles = self.needles
        needle = needles[0] if len(needles) == 1 else None
        out: list[Parsed] = []
        append = out.append
        for raw in messages:
            try:
                if (needle in raw) if needle is not None else (needles and any(n in raw for n in needles)):
                    obj = decode(raw)
                    append(obj if type(obj) is dict else ParseFailure("not a JSON object"))
                    continue
                fields = keys_of(raw)
                if not raw.isascii():
                    raw.decode("utf-8")  # Raw values are not checked for UTF-8; splicing needs it
                if keys and not keys.isdisjoint(fields):
                    append(decode(raw))  # a key written with escapes, like "ti\u006de"
                    continue
                if raw[:1] != b"{" or raw[-1:] != b"}":
                    raw = raw.strip(_WHITESPACE)
                append(raw)
            except (_DecodeError, UnicodeDecodeError):
                append(_retry(raw))
            except Exception as exc:  # never let one line break the batch
                append(ParseFailure(f"invalid JSON: {exc}"))
        if keys:
            self.finish(out)
        return out


def _retry(raw: bytes) -> Parsed:
    """A line that failed: valid JSON with invalid UTF-8 still parses, with U+FFFD in place."""
    try:
        obj = _ANY.decode(str(raw, "utf-8", "replace").encode())
    except (_DecodeError, UnicodeDecodeError, ValueError) as exc:
        return ParseFailure(f"invalid JSON: {exc}")
    return obj if type(obj) is dict else ParseFailure("not a JSON object")
