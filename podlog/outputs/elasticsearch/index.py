"""Where each document goes and under which ``_id``: index names, record times, deterministic ids.

The hot path avoids decoding documents: the records podlog builds start with
``{"@timestamp":"<RFC3339>"`` (``podlog/document.py``), so the date for a
logstash-style index is sliced out of the bytes. Documents are decoded only when a template names record
fields (``logs-${kubernetes.namespace_name}``), or for ``id_key`` and
``target_index_key``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from podlog.document import leading_timestamp

__all__ = ["IndexNamer", "Template", "doc_id", "record_time"]

_FRACTION = re.compile(r"(\.\d{1,6})\d*")
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}|\{(tag)\}")
_TAG_PART = re.compile(r"^tag(?:_parts)?\[(-?\d+)\]$")
_UNSAFE = re.compile(r'[\\/*?"<>| ,#:]')  # characters Elasticsearch refuses in index names


def doc_id(source: str, offset: int, timestamp: bytes | None) -> str:
    """A deterministic ``_id``: the same line read twice (retry, crash-restart) gets the same id.

    The record's own timestamp is mixed in so that a new file that reuses a
    deleted file's inode (common after rotation) does not collide with
    documents already indexed from the old one: a collision would be answered
    409 and the new line silently taken for a duplicate. The tail's source
    (``dev:inode:crc of the first line``) tells such files apart even when
    their lines carry the same timestamps.
    """
    key = f"{source}:{offset}:".encode() + (timestamp or b"")
    digest = hashlib.blake2b(key, digest_size=15).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")  # 20 chars, no padding at 15 bytes


def _parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1e9 if value > 1e14 else value  # nanosecond epochs from some shippers
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION.sub(r"\1", text)  # Python wants at most microseconds
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def record_time(record: dict[str, Any], key: str) -> dt.datetime | None:
    """The record's time from ``key`` (dotted paths allowed), as an aware datetime."""
    return _parse_time(lookup(record, key))


def lookup(record: Any, path: str) -> Any:
    """``a.b.c`` in nested dicts; a key containing dots wins over the nested path."""
    if isinstance(record, dict) and path in record:
        return record[path]
    value = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class Template:
    """An index-name template: ``${tag}``, ``{tag}``, ``${tag_parts[N]}``, ``${a.b}`` and strftime codes.

    Field values are lower-cased and stripped of characters Elasticsearch does
    not allow in index names, so a namespace called ``Team A`` cannot make
    every bulk item fail.
    """

    def __init__(self, text: str, missing: str = "unknown") -> None:
        self.text = text
        self.missing = missing
        self.fields = [m.group(1) for m in _PLACEHOLDER.finditer(text)
                       if m.group(1) and m.group(1) != "tag" and not _TAG_PART.match(m.group(1))]
        self.uses_time = "%" in text

    @property
    def static(self) -> bool:
        return not self.fields and not self.uses_time and "{" not in self.text

    def render(self, tag: str, record: dict[str, Any] | None, when: dt.datetime | None) -> str:
        def field(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            if name == "tag":
                return tag
            part = _TAG_PART.match(name)
            if part:
                parts = tag.split(".")
                i = int(part.group(1))
                return parts[i] if -len(parts) <= i < len(parts) else self.missing
            value = lookup(record, name) if record is not None else None
            if value is None or value == "":
                return self.missing
            return _UNSAFE.sub("_", str(value))

        out = _PLACEHOLDER.sub(field, self.text)
        if self.uses_time:
            out = (when or dt.datetime.now(dt.timezone.utc)).strftime(out)
        return out.lower()


class IndexNamer:
    """Chooses the index (or data stream) of each document.

    Modes, first that applies: ``target_index_key`` (a record field names the
    index), a data stream name, ``logstash_format`` (prefix + separator +
    date of the record's time), else ``index_name``. Each accepts templates.
    """

    def __init__(
        self,
        *,
        index_name: str,
        logstash_format: bool = False,
        logstash_prefix: str = "logstash",
        logstash_prefix_separator: str = "-",
        logstash_dateformat: str = "%Y.%m.%d",
        data_stream_name: str = "",
        target_index_key: str = "",
        time_key: str = "@timestamp",
        utc_index: bool = True,
    ) -> None:
        if data_stream_name:
            self.template = Template(data_stream_name)
        elif logstash_format:
            self.template = Template(logstash_prefix + logstash_prefix_separator + logstash_dateformat)
        else:
            self.template = Template(index_name)
        self.target_index_key = target_index_key
        self.time_key = time_key
        self.utc = utc_index
        self._cache: dict[tuple[str, bytes], str] = {}
        # Record time is needed only for strftime codes; at day granularity unless the format asks for more.
        fine = any(code in self.template.text for code in ("%H", "%M", "%S", "%I", "%p", "%s"))
        self._time_slice = 19 if fine else 10
        self._static = self.template.render("", None, None) if self.template.static else ""

    @property
    def needs_record(self) -> bool:
        return bool(self.template.fields or self.target_index_key or
                    (self.template.uses_time and (self.time_key != "@timestamp" or not self.utc)))

    def name(self, tag: str, doc: bytes, record: Callable[[], dict[str, Any]]) -> str:
        """The index of ``doc``; ``record`` decodes it lazily when fields are needed."""
        if self.target_index_key:
            value = lookup(record(), self.target_index_key)
            if isinstance(value, str) and value:
                return value.lower()
        if self._static:
            return self._static
        if not self.needs_record:
            ts = leading_timestamp(doc)
            if ts is not None and len(ts) >= 19 and ts.endswith(b"Z"):
                key = (tag, ts[: self._time_slice])
                name = self._cache.get(key)
                if name is None:
                    if len(self._cache) > 4096:
                        self._cache.clear()
                    when = _parse_time(ts[: self._time_slice].decode("ascii", "replace") +
                                       ("T00:00:00" if self._time_slice == 10 else "") + "Z")
                    name = self._cache[key] = self.template.render(tag, None, when)
                return name
        rec = record()
        when = record_time(rec, self.time_key) if self.template.uses_time else None
        if when is not None:
            when = when.astimezone(dt.timezone.utc if self.utc else None)
        elif when is None and self.template.uses_time and not self.utc:
            when = dt.datetime.fromtimestamp(time.time()).astimezone()
        return self.template.render(tag, rec, when)


def decode(doc: bytes) -> dict[str, Any]:
    """Decode one document; anything but an object becomes ``{}`` (it will fail field lookups, not crash)."""
    try:
        value = orjson.loads(doc)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
