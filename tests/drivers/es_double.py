"""An Elasticsearch / OpenSearch *protocol double* for podlog's test suite.

THIS IS NOT ELASTICSEARCH AND NOT OPENSEARCH.  No Elasticsearch or OpenSearch server can run on the
machines podlog is tested on, so this module speaks the *wire protocol* of the few endpoints a log
shipper uses (``GET /``, ``_bulk``, index templates, ILM / ISM policies, data streams, plus a little
read-back for debugging) and reproduces the server behaviour a shipper has to cope with: per-item bulk
statuses, dynamic-mapping conflicts, create conflicts, data-stream rules, 401 / 429 / 503 answers and
closed ports.  It stores documents in memory, has no shards, no replicas, no real search and no query
DSL beyond ``match_all``.  A test that passes against it shows that podlog follows the documented
protocol; it does not show that a real cluster accepts the same traffic.

What it is built from (reference pages, not code): the Elasticsearch reference for the Bulk API
(``docs-bulk``, 7.x and 8.x), the Root API (``rest-api-root``), dynamic field mapping
(``dynamic-field-mapping``), ``coerce``, data streams (``use-a-data-stream``), API-key / bearer / basic
authentication, the OpenSearch "Cluster Information API" page, and error bodies quoted in public issue
threads (``The bulk request must be terminated by a newline [\\n]``, ``only write ops with an op_type of
create are allowed in data streams``, ``version_conflict_engine_exception``, ``mapper_parsing_exception`` /
``document_parsing_exception``, ``es_rejected_execution_exception``, ``security_exception``).

Typical use::

    with EsDouble(flavor="es8") as es:
        shipper = make_output(url=es.url)
        ...
        assert [d["message"] for d in es.documents("logs")] == ["a", "b"]
        assert es.requests[-1].gzip

See ``tests/drivers/README.md`` for the list of what is *not* implemented.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as _dt
import fnmatch
import gzip
import hashlib
import ipaddress
import json
import math
import random
import re
import socket
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["FLAVORS", "EsDouble", "RequestRecord"]

FLAVORS: tuple[str, ...] = ("es7", "es8", "opensearch2")

# Version facts as printed by ``GET /`` on the releases each flavor stands for.  The numbers matter to
# clients: elasticsearch-py and the Go client pick behaviour from ``version.number`` and refuse servers
# whose answers lack ``X-Elastic-Product: Elasticsearch`` (7.14+), and OpenSearch is told apart by
# ``version.distribution``.
_FLAVOR_FACTS: dict[str, dict[str, str]] = {
    "es7": {
        "number": "7.17.18",
        "lucene": "8.11.1",
        "wire": "6.8.0",
        "index": "6.0.0-beta1",
        "build_date": "2024-02-02T12:04:59.691750271Z",
    },
    "es8": {
        "number": "8.13.4",
        "lucene": "9.10.0",
        "wire": "7.17.0",
        "index": "7.0.0",
        "build_date": "2024-05-06T22:04:45.107454559Z",
    },
    "opensearch2": {
        "number": "2.13.0",
        "lucene": "9.10.0",
        "wire": "7.10.0",
        "index": "7.0.0",
        "build_date": "2024-03-27T19:24:45.041236Z",
    },
}

# Index templates that a default Elasticsearch install ships with ``data_stream`` enabled (priority 100):
# writing to ``logs-foo-bar`` on a stock cluster creates a data stream, not an index, so a shipper that
# uses the ``index`` op there fails.  OpenSearch ships none.
_BUILTIN_DATA_STREAM_PATTERNS: dict[str, tuple[str, ...]] = {
    "es7": ("logs-*-*", "metrics-*-*", "synthetics-*-*"),
    "es8": ("logs-*-*", "metrics-*-*", "synthetics-*-*"),
    "opensearch2": (),
}
_BUILTIN_TEMPLATE_PRIORITY = 100

_ACTIONS = ("index", "create", "update", "delete")
_COMMON_META = frozenset(
    {
        "_index",
        "_id",
        "routing",
        "op_type",
        "version",
        "version_type",
        "if_seq_no",
        "if_primary_term",
        "retry_on_conflict",
        "pipeline",
        "_source",
        "require_alias",
    }
)
_FLAVOR_META: dict[str, frozenset[str]] = {
    "es7": _COMMON_META | {"_type", "dynamic_templates"},
    "es8": _COMMON_META | {"dynamic_templates", "list_executed_pipelines", "require_data_stream"},
    "opensearch2": _COMMON_META,
}
_COMMON_BULK_PARAMS = frozenset(
    {
        "pipeline",
        "refresh",
        "routing",
        "timeout",
        "wait_for_active_shards",
        "_source",
        "_source_excludes",
        "_source_includes",
        "require_alias",
        "filter_path",
        "pretty",
        "human",
        "error_trace",
    }
)
_FLAVOR_BULK_PARAMS: dict[str, frozenset[str]] = {
    "es7": _COMMON_BULK_PARAMS | {"type"},
    "es8": _COMMON_BULK_PARAMS | {"require_data_stream", "list_executed_pipelines"},
    "opensearch2": _COMMON_BULK_PARAMS,
}
_UPDATE_BODY_FIELDS = frozenset(
    {"doc", "upsert", "doc_as_upsert", "script", "scripted_upsert", "detect_noop", "_source"}
)

# Fields Elasticsearch refuses inside a document body ("is a metadata field and cannot be added inside a
# document").  ``_type`` only counts on 7.x: 8.x and OpenSearch 2 removed mapping types, so there it is an
# ordinary field.
_METADATA_FIELDS = frozenset(
    {
        "_id",
        "_index",
        "_source",
        "_routing",
        "_version",
        "_seq_no",
        "_primary_term",
        "_ignored",
        "_field_names",
        "_data_stream_timestamp",
        "_tier",
    }
)

_INTEGRAL_RANGES: dict[str, tuple[int, int]] = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "unsigned_long": (0, 2**64 - 1),
}
_FLOAT_LIMITS: dict[str, float] = {
    "double": sys.float_info.max,
    "scaled_float": sys.float_info.max,
    "float": 3.4028234663852886e38,
    "half_float": 65504.0,
}
_STRING_TYPES = frozenset(
    {"text", "keyword", "match_only_text", "wildcard", "constant_keyword", "search_as_you_type", "version"}
)
_ANYTHING_TYPES = frozenset({"flattened", "flat_object", "geo_point", "geo_shape", "point", "shape", "join"})
_DATE_TYPES = frozenset({"date", "date_nanos"})
_DEFAULT_DATE_FORMAT = "strict_date_optional_time||epoch_millis"
_SLASH_DATE_FORMAT = "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis"

_ISO_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,]\d{1,9})?)?)?"
    r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$"
)
_SLASH_DATE_RE = re.compile(r"^(?P<y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2})(?: (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2}))?$")
_NUMERIC_STRING_RE = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_INVALID_INDEX_CHARS = ("\\", "/", "*", "?", '"', "<", ">", "|", " ", ",")

_SECURITY_CHALLENGES = ('Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey")
_OPENSEARCH_CHALLENGE = 'Basic realm="OpenSearch Security"'


# --------------------------------------------------------------------------------------------------
# Public record of what the double received
# --------------------------------------------------------------------------------------------------


@dataclass
class RequestRecord:
    """One HTTP request as the double saw it, kept so tests can assert on the wire traffic.

    ``headers`` has lower-cased names.  ``raw_body`` is what came over the wire (possibly gzip),
    ``body`` the decoded bytes.  For ``_bulk`` requests ``doc_count`` is the number of actions parsed
    and ``item_statuses`` the per-item HTTP statuses the double answered with.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes = b""
    body: bytes = b""
    gzip: bool = False
    content_encoding: str | None = None
    route: str = ""
    status: int = 0
    doc_count: int = 0
    item_statuses: list[int] = field(default_factory=list)
    response: bytes = b""

    @property
    def is_bulk(self) -> bool:
        """True for ``_bulk`` requests, which is what most delivery assertions care about."""
        return self.route == "bulk"

    def json(self) -> Any:
        """The response body parsed as JSON, for assertions on what the client was told."""
        return json.loads(self.response) if self.response else None


# --------------------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------------------


@dataclass
class _Doc:
    source: dict[str, Any]
    version: int
    seq_no: int
    routing: str | None = None


@dataclass
class _Index:
    name: str
    uuid: str
    mapping: dict[str, Any]
    settings: dict[str, Any]
    created_ms: int
    docs: dict[str, _Doc] = field(default_factory=dict)
    next_seq_no: int = 0
    deleted: int = 0
    data_stream: str | None = None


@dataclass
class _DataStream:
    name: str
    indices: list[str]
    template: str | None
    timestamp_field: str = "@timestamp"


@dataclass
class _BulkOp:
    line: int
    action: str
    index: str | None
    id: str | None
    type: str | None = None
    op_type: str | None = None
    routing: str | None = None
    version: int | None = None
    version_type: str = "internal"
    if_seq_no: int | None = None
    if_primary_term: int | None = None
    require_alias: bool | None = None
    source_raw: bytes | None = None
    update: dict[str, Any] | None = None


@dataclass
class _Reply:
    status: int
    body: Any = None  # dict/list -> JSON, str/bytes -> as is, None -> empty
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


@dataclass
class _FailurePlan:
    status: int
    body: Any
    bulk_only: bool


class _ApiError(Exception):
    """A whole-request failure, rendered in the server's ``{"error": {...}, "status": N}`` shape."""

    def __init__(self, status: int, etype: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.etype = etype
        self.reason = reason
        self.extra = extra

    def body(self) -> dict[str, Any]:
        cause = {"type": self.etype, "reason": self.reason, **self.extra}
        root = {k: v for k, v in cause.items() if k != "caused_by"}
        return {"error": {"root_cause": [root], **cause}, "status": self.status}


class _ItemError(Exception):
    """A per-item bulk failure: the request succeeds, this one item carries ``status`` and ``error``."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("reason", ""))
        self.status = status
        self.error = error


class _DocReject(Exception):
    """A document refused while parsing / mapping it; rendered per flavor by ``_render_reject``."""

    def __init__(
        self,
        reason: str,
        *,
        key: str | None = None,
        caused_by: dict[str, Any] | None = None,
        etype: str | None = None,
        failed_to_parse: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key
        self.caused_by = caused_by
        self.etype = etype
        self.failed_to_parse = failed_to_parse


# --------------------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------------------


def _dump(obj: Any, pretty: bool = False) -> bytes:
    if pretty:
        return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _strict_loads(data: bytes | str) -> Any:
    """Parse JSON the way Jackson does in Elasticsearch: duplicate keys and NaN/Infinity are errors."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"Duplicate field '{k}'")
            out[k] = v
        return out

    def bad_constant(name: str) -> Any:
        raise ValueError(f"Non-standard token '{name}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow")

    return json.loads(data, object_pairs_hook=pairs, parse_constant=bad_constant)


def _json_error_position(exc: Exception) -> tuple[str, int]:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg, exc.colno
    return str(exc), 1


def _token(value: Any) -> str:
    """Jackson's token name for a JSON value, as quoted in Elasticsearch's parser errors."""
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, str):
        return "VALUE_STRING"
    if value is None:
        return "VALUE_NULL"
    return "VALUE_NUMBER"


def _text(value: Any) -> str:
    """``parser.text()`` of a scalar: what Elasticsearch makes of ``"_id": 5`` or ``"_id": true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _java_str(value: Any) -> str:
    """Render a value the way Java's ``toString`` does in "Preview of field's value" messages."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text in ("true", ""):
        return True
    if text == "false":
        return False
    raise _ApiError(
        400, "illegal_argument_exception", f"Failed to parse value [{text}] as only [true] or [false] are allowed."
    )


def _valid_datetime(y: str, mo: str | None, d: str | None, h: str | None, mi: str | None, s: str | None) -> bool:
    try:
        _dt.datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        return False
    return True


def _is_iso_date(text: str, *, require_day: bool) -> bool:
    m = _ISO_DATE_RE.match(text)
    if not m:
        return False
    if require_day and m.group("d") is None:
        return False
    z = m.group("z")
    if z and z != "Z" and int(z[1:3]) > 18:
        return False
    return _valid_datetime(m.group("y"), m.group("mo"), m.group("d"), m.group("h"), m.group("mi"), m.group("s"))


def _is_slash_date(text: str) -> bool:
    m = _SLASH_DATE_RE.match(text)
    return bool(m) and _valid_datetime(
        m.group("y"), m.group("mo"), m.group("d"), m.group("h"), m.group("mi"), m.group("s")
    )


def _is_number_literal(text: str) -> bool:
    return bool(_NUMERIC_STRING_RE.match(text))


def _date_matches(node: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` parses with one of the field's ``format`` alternatives (``a||b||c``)."""
    formats = [f.strip() for f in str(node.get("format", _DEFAULT_DATE_FORMAT)).split("||")]
    for fmt in formats:
        if fmt in ("epoch_millis", "epoch_second"):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return True
            if isinstance(value, str) and _is_number_literal(value):
                return True
        elif not isinstance(value, str):
            continue
        elif fmt in (
            "strict_date_optional_time",
            "date_optional_time",
            "strict_date_optional_time_nanos",
            "strict_date_time",
            "date_time",
            "iso8601",
        ):
            if _is_iso_date(value, require_day=False):
                return True
        elif fmt in ("strict_date", "date", "yyyy-MM-dd"):
            if _is_iso_date(value, require_day=True) and "T" not in value:
                return True
        elif fmt.startswith("yyyy/MM/dd"):
            if _is_slash_date(value.removesuffix(" Z").strip()):
                return True
        else:
            # A custom Java time pattern: this double does not implement them, so it accepts.
            return True
    return False


def _is_object_node(node: dict[str, Any]) -> bool:
    return "properties" in node or node.get("type") in ("object", "nested")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _flatten(values: list[Any]) -> Iterator[Any]:
    for v in values:
        if isinstance(v, list):
            yield from _flatten(v)
        else:
            yield v


def _column(raw_line: str, key: str | None) -> int:
    """Approximate the ``[1:N]`` column Elasticsearch 8 prefixes to document errors.

    Elasticsearch reports where its streaming parser stood; the double points at the value of the
    offending key, or at the end of the document.  Clients must not depend on the exact number.
    """
    if key:
        at = raw_line.find(json.dumps(key))
        if at >= 0:
            colon = raw_line.find(":", at + len(key) + 2)
            if colon >= 0:
                pos = colon + 1
                while pos < len(raw_line) and raw_line[pos] in " \t":
                    pos += 1
                return pos + 1
    return max(1, len(raw_line))


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    """Partial-update merge as Elasticsearch's ``update`` does it: objects merge, everything else replaces."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def _filter_path(obj: Any, spec: str) -> Any:
    """Apply ``filter_path`` (``a.b``, ``*`` per level, ``**`` any depth, ``-`` exclusion) to a response."""
    includes = [p.split(".") for p in spec.split(",") if p and not p.startswith("-")]
    excludes = [p[1:].split(".") for p in spec.split(",") if p.startswith("-") and len(p) > 1]
    missing = object()

    def step(patterns: list[list[str]], key: str) -> list[list[str]]:
        out: list[list[str]] = []
        for pat in patterns:
            if pat[0] == "**":
                out.append(pat)
                if len(pat) > 1 and fnmatch.fnmatchcase(key, pat[1]):
                    out.append(pat[2:])
                elif len(pat) == 1:
                    out.append([])
            elif fnmatch.fnmatchcase(key, pat[0]):
                out.append(pat[1:])
        return out

    def include(value: Any, patterns: list[list[str]]) -> Any:
        if any(not p for p in patterns):
            return value
        if isinstance(value, dict):
            kept = {}
            for k, v in value.items():
                nxt = step(patterns, k)
                if nxt:
                    sub = include(v, nxt)
                    if sub is not missing:
                        kept[k] = sub
            return kept if kept else missing
        if isinstance(value, list):
            items = [x for x in (include(v, patterns) for v in value) if x is not missing]
            return items if items else missing
        return missing

    def exclude(value: Any, patterns: list[list[str]]) -> Any:
        if any(not p for p in patterns):
            return missing
        if isinstance(value, dict):
            kept = {}
            for k, v in value.items():
                nxt = step(patterns, k)
                sub = exclude(v, nxt) if nxt else v
                if sub is not missing:
                    kept[k] = sub
            return kept
        if isinstance(value, list):
            return [x for x in (exclude(v, patterns) for v in value) if x is not missing]
        return value

    result = include(obj, includes) if includes else obj
    if result is missing:
        return {}
    if excludes:
        result = exclude(result, excludes)
        if result is missing:
            return {}
    return result


def _invalid_index_name(name: str) -> str | None:
    """The reason Elasticsearch refuses ``name`` as an index name, or None when it is fine."""
    if not name:
        return "must not be empty"
    if any(ch in name for ch in _INVALID_INDEX_CHARS):
        return 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
    if "#" in name:
        return "must not contain '#'"
    if ":" in name:
        return "must not contain ':'"
    if name[0] in "_-+":
        return "must not start with '_', '-', or '+'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if len(name.encode()) > 255:
        return f"index name is too long, ({len(name.encode())} > 255)"
    if name.lower() != name:
        return "must be lowercase"
    return None


_DATE_MATH_RE = re.compile(r"\{now(?:/([yMwdhHms]))?(?:\{([^}|]*)(?:\|[^}]*)?\})?\}")


def _resolve_date_math(name: str, now: _dt.datetime) -> str:
    """Resolve ``<logs-{now/d}>`` style names (the ILM bootstrap form) against ``now``; others pass."""
    if not (name.startswith("<") and name.endswith(">")):
        return name

    def repl(m: re.Match[str]) -> str:
        fmt = m.group(2) or "yyyy.MM.dd"
        for token, code in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M")):
            fmt = fmt.replace(token, code)
        return now.strftime(fmt)

    return _DATE_MATH_RE.sub(repl, name[1:-1])


# --------------------------------------------------------------------------------------------------
# Dynamic mapping
# --------------------------------------------------------------------------------------------------


class _Mapper:
    """Walks one document against an index mapping, extending it the way dynamic mapping does.

    Additions are made in place and logged, so a refused document can be rolled back without copying
    the whole mapping for every document.
    """

    def __init__(self, root: dict[str, Any], doc_id: str, *, type_is_metadata: bool) -> None:
        self.root = root
        self.doc_id = doc_id
        self.metadata = _METADATA_FIELDS | ({"_type"} if type_is_metadata else set())
        self.added: list[tuple[dict[str, Any], str]] = []

    def apply(self, doc: dict[str, Any]) -> None:
        try:
            self._object(self.root, doc, "", self._dynamic(self.root, "true"), top=True)
        except _DocReject:
            self.rollback()
            raise

    def rollback(self) -> None:
        for props, key in reversed(self.added):
            props.pop(key, None)
        self.added.clear()

    @staticmethod
    def _dynamic(node: dict[str, Any], inherited: str) -> str:
        value = node.get("dynamic", inherited)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value).lower()

    def _add(self, props: dict[str, Any], name: str, node: dict[str, Any]) -> dict[str, Any]:
        props[name] = node
        self.added.append((props, name))
        return node

    def _strict(self, name: str, parent_path: str) -> _DocReject:
        return _DocReject(
            f"mapping set to strict, dynamic introduction of [{name}] within [{parent_path or '_doc'}] is not allowed",
            key=name,
            etype="strict_dynamic_mapping_exception",
        )

    def _object(self, node: dict[str, Any], obj: dict[str, Any], path: str, dynamic: str, *, top: bool = False) -> None:
        for key, value in obj.items():
            if top and key in self.metadata:
                raise _DocReject(
                    f"Field [{key}] is a metadata field and cannot be added inside a document. "
                    "Use the index API request parameters.",
                    key=key,
                )
            if key == "":
                raise _DocReject("field name cannot be an empty string", key=key)
            if not key.strip():
                raise _DocReject(f"field name cannot contain only whitespace: ['{key}']", key=key)
            parts = key.split(".")
            if any(p == "" for p in parts):
                raise _DocReject(
                    f"object field starting or ending with a [.] makes object resolution ambiguous: [{key}]", key=key
                )
            parent, parent_path, parent_dyn = node, path, dynamic
            skip = False
            for part in parts[:-1]:
                props = parent.setdefault("properties", {})
                child = props.get(part)
                child_path = _join(parent_path, part)
                if child is None:
                    if parent_dyn == "strict":
                        raise self._strict(part, parent_path)
                    if parent_dyn in ("false", "runtime"):
                        skip = True
                        break
                    child = self._add(props, part, {"properties": {}})
                elif not _is_object_node(child):
                    if child.get("type") in _ANYTHING_TYPES:
                        skip = True
                        break
                    raise _DocReject(
                        f"Could not dynamically add mapping for field [{_join(parent_path, key)}]. Existing mapping "
                        f"for [{child_path}] must be of type object but found [{child.get('type')}].",
                        key=key,
                    )
                parent, parent_path, parent_dyn = child, child_path, self._dynamic(child, parent_dyn)
            if not skip:
                self._field(parent, parts[-1], _join(parent_path, parts[-1]), parent_path, value, parent_dyn, key)

    def _field(
        self,
        parent: dict[str, Any],
        name: str,
        full: str,
        parent_path: str,
        value: Any,
        dynamic: str,
        raw_key: str,
    ) -> None:
        if value is None:
            return
        if isinstance(value, list):
            for item in _flatten(value):
                self._field(parent, name, full, parent_path, item, dynamic, raw_key)
            return
        props = parent.setdefault("properties", {})
        node = props.get(name)
        if isinstance(value, dict):
            if node is None:
                if dynamic == "strict":
                    raise self._strict(name, parent_path)
                if dynamic in ("false", "runtime"):
                    return
                node = self._add(props, name, {"properties": {}})
            if _is_object_node(node):
                self._object(node, value, full, self._dynamic(node, dynamic))
                return
            if node.get("type") in _ANYTHING_TYPES:
                return
            raise self._field_error(
                full,
                node,
                value,
                raw_key,
                {"type": "illegal_state_exception", "reason": "Can't get text on a START_OBJECT at 1:1"},
            )
        if node is None:
            if dynamic == "strict":
                raise self._strict(name, parent_path)
            if dynamic in ("false", "runtime"):
                return
            self._add(props, name, self._detect(value))
            return
        if _is_object_node(node):
            raise _DocReject(
                f"object mapping for [{full}] tried to parse field [{name}] as object, but found a concrete value",
                key=raw_key,
            )
        cause = self._coerce_problem(node, value)
        if cause is not None:
            raise self._field_error(full, node, value, raw_key, cause)

    def _detect(self, value: Any) -> dict[str, Any]:
        """Dynamic field mapping table: boolean, long, float, date (date detection) or text+keyword."""
        if isinstance(value, bool):
            return {"type": "boolean"}
        if isinstance(value, int):
            lo, hi = _INTEGRAL_RANGES["long"]
            return {"type": "long"} if lo <= value <= hi else {"type": "float"}
        if isinstance(value, float):
            return {"type": "float"}
        text = str(value)
        if self.root.get("date_detection", True) not in (False, "false"):
            if _is_iso_date(text, require_day=True):
                return {"type": "date"}
            if _is_slash_date(text):
                return {"type": "date", "format": _SLASH_DATE_FORMAT}
        if self.root.get("numeric_detection", False) in (True, "true") and _is_number_literal(text):
            try:
                int(text.strip())
            except ValueError:
                return {"type": "float"}
            return {"type": "long"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}

    @staticmethod
    def _coerce_problem(node: dict[str, Any], value: Any) -> dict[str, Any] | None:
        """None when ``value`` fits the mapped type (with ``coerce`` as configured), else the cause."""
        ftype = node.get("type", "object")
        coerce = node.get("coerce", True) not in (False, "false")

        def illegal(reason: str) -> dict[str, Any]:
            return {"type": "illegal_argument_exception", "reason": reason}

        if ftype in _INTEGRAL_RANGES:
            lo, hi = _INTEGRAL_RANGES[ftype]
            if isinstance(value, bool):
                return illegal(f"Current token ({_token(value)}) not numeric, can not use numeric value accessors")
            if isinstance(value, str):
                if value == "":
                    return None  # numeric fields index "" as null
                if not coerce:
                    return illegal(f"Value [{value}] is not a number and coercion is disabled")
                number: int | float
                try:
                    number = int(value.strip())
                except ValueError:
                    if not _is_number_literal(value):
                        return illegal(f'For input string: "{value}"')
                    number = float(value)
            else:
                number = value
            if isinstance(number, float):
                if not math.isfinite(number):
                    return illegal(f"Value [{value}] is out of range for a {ftype}")
                if not coerce and number != int(number):
                    return illegal(f"Value [{value}] has a decimal part")
                number = int(number)
            if not lo <= number <= hi:
                return illegal(f"Value [{value}] is out of range for a {ftype}")
            return None
        if ftype in _FLOAT_LIMITS:
            if isinstance(value, bool):
                return illegal(f"Current token ({_token(value)}) not numeric, can not use numeric value accessors")
            if isinstance(value, str):
                if value == "":
                    return None
                if not coerce:
                    return illegal(f"Value [{value}] is not a number and coercion is disabled")
                if not _is_number_literal(value):
                    return illegal(f'For input string: "{value}"')
                number = float(value)
            else:
                number = float(value)
            if not math.isfinite(number) or abs(number) > _FLOAT_LIMITS[ftype]:
                return illegal(f"[{ftype}] supports only finite values, but got [{value}]")
            return None
        if ftype in _STRING_TYPES:
            return None  # numbers and booleans are indexed as their text
        if ftype == "boolean":
            if isinstance(value, bool) or value in ("true", "false", ""):
                return None
            return illegal(f"Failed to parse value [{_text(value)}] as only [true] or [false] are allowed.")
        if ftype in _DATE_TYPES:
            if not isinstance(value, bool) and _date_matches(node, value):
                return None
            fmt = node.get("format", _DEFAULT_DATE_FORMAT)
            return {
                "type": "illegal_argument_exception",
                "reason": f"failed to parse date field [{_text(value)}] with format [{fmt}]",
                "caused_by": {
                    "type": "date_time_parse_exception",
                    "reason": "Failed to parse with all enclosed parsers",
                },
            }
        if ftype == "ip":
            try:
                ipaddress.ip_address(str(value))
            except ValueError:
                return illegal(f"'{_text(value)}' is not an IP string literal.")
            return None
        return None  # types this double does not model accept anything

    def _field_error(
        self, full: str, node: dict[str, Any], value: Any, raw_key: str, cause: dict[str, Any]
    ) -> _DocReject:
        return _DocReject(
            f"failed to parse field [{full}] of type [{node.get('type', 'object')}] in document with id "
            f"'{self.doc_id}'. Preview of field's value: '{_java_str(value)}'",
            key=raw_key or None,
            caused_by=cause,
        )


def _expand_mapping(src: dict[str, Any]) -> dict[str, Any]:
    """Normalise an explicit mapping body (template / create-index) into the double's tree form."""
    if "properties" not in src and len(src) == 1:
        only = next(iter(src.values()))
        if isinstance(only, dict) and ("properties" in only or "dynamic" in only):
            src = only  # a 7.x legacy template that still names its type
    out: dict[str, Any] = {k: copy.deepcopy(v) for k, v in src.items() if k != "properties"}
    props: dict[str, Any] = {}
    for name, node in (src.get("properties") or {}).items():
        _put_property(props, name.split("."), node)
    out["properties"] = props
    return out


def _put_property(props: dict[str, Any], parts: list[str], node: dict[str, Any]) -> None:
    head = parts[0]
    if len(parts) > 1:
        holder = props.setdefault(head, {"properties": {}})
        holder.setdefault("properties", {})
        _put_property(holder["properties"], parts[1:], node)
        return
    if isinstance(node, dict) and ("properties" in node or node.get("type") in ("object", "nested")):
        existing = props.setdefault(head, {"properties": {}})
        existing.update({k: copy.deepcopy(v) for k, v in node.items() if k != "properties"})
        existing.setdefault("properties", {})
        for name, child in (node.get("properties") or {}).items():
            _put_property(existing["properties"], name.split("."), child)
    else:
        props[head] = copy.deepcopy(node)


def _merge_mapping(dst: dict[str, Any], src: dict[str, Any]) -> None:
    expanded = _expand_mapping(src)
    for k, v in expanded.items():
        if k != "properties":
            dst[k] = v
    _merge_props(dst.setdefault("properties", {}), expanded["properties"])


def _merge_props(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for name, node in src.items():
        if name in dst and _is_object_node(dst[name]) and _is_object_node(node):
            dst[name].update({k: v for k, v in node.items() if k != "properties"})
            _merge_props(dst[name].setdefault("properties", {}), node.get("properties", {}))
        else:
            dst[name] = copy.deepcopy(node)


# --------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    """A threading server that remembers its open connections so ``down()`` can cut them."""

    daemon_threads = False  # joined on close, so no handler outlives the double
    block_on_close = True
    allow_reuse_address = True  # ``up()`` must get the same port back while old sockets sit in TIME_WAIT

    def __init__(self, address: tuple[str, int], double: EsDouble) -> None:
        self.double = double
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        self.double._note_connection()
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return  # peers hanging up mid-request is normal traffic for a shipper's tests
        self.double._note_internal_error(f"{type(exc).__name__}: {exc}")

    def drop_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the double; HTTP/1.1 so clients can keep connections alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY, as Elasticsearch sets it (http.tcp.no_delay): no 40 ms stalls
    server: _HttpServer
    timeout = 300

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib access log: test output should only show test failures."""

    def _dispatch(self) -> None:
        self.server.double._serve(self)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()


# --------------------------------------------------------------------------------------------------
# The double
# --------------------------------------------------------------------------------------------------


class EsDouble:
    """An in-memory Elasticsearch / OpenSearch protocol double served over real HTTP on 127.0.0.1.

    Not Elasticsearch: see the module docstring.  The server starts in the constructor (or ``start()``
    after ``close()``) on an ephemeral port; use it as a context manager so it always stops.

    Knobs a test may set at any time: ``reject_ratio_429`` (0..1, per bulk item, seeded by ``seed``),
    ``delay`` (seconds slept before answering each request).  State for assertions: ``documents()``,
    ``indices()``, ``data_streams()``, ``mapping()``, ``requests``, ``templates``,
    ``component_templates``, ``legacy_templates``, ``ilm_policies``, ``ism_policies``,
    ``connections_accepted`` and ``internal_errors`` (should stay empty).
    """

    def __init__(
        self,
        flavor: str = "es8",
        *,
        version: str | None = None,
        cluster_name: str = "podlog-test",
        path_prefix: str = "",
        basic: tuple[str, str] | None = None,
        api_key: str | None = None,
        bearer: str | None = None,
        seed: int = 0,
        data_stream_patterns: Sequence[str] | None = None,
        max_content_length: int = 100 * 1024 * 1024,
        compress_responses: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        start: bool = True,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {FLAVORS}, not {flavor!r}")
        if api_key is not None and flavor == "opensearch2":
            raise ValueError("OpenSearch has no API keys (Authorization: ApiKey is an Elasticsearch feature)")
        if api_key is not None and ":" not in api_key:
            raise ValueError('api_key must be "id:key"')
        self.flavor = flavor
        facts = _FLAVOR_FACTS[flavor]
        self.version_number = version or facts["number"]
        self.cluster_name = cluster_name
        self.path_prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self.basic = basic
        self.api_key = api_key
        self.bearer = bearer
        self.seed = seed
        self.data_stream_patterns: tuple[str, ...] = (
            tuple(data_stream_patterns) if data_stream_patterns is not None else _BUILTIN_DATA_STREAM_PATTERNS[flavor]
        )
        self.max_content_length = max_content_length
        self.compress_responses = compress_responses
        self.host = host

        # Fault knobs, read on every request.
        self.reject_ratio_429 = 0.0
        self.delay = 0.0

        # State for assertions.
        self.requests: list[RequestRecord] = []
        self.templates: dict[str, dict[str, Any]] = {}
        self.component_templates: dict[str, dict[str, Any]] = {}
        self.legacy_templates: dict[str, dict[str, Any]] = {}
        self.ilm_policies: dict[str, dict[str, Any]] = {}
        self.ism_policies: dict[str, dict[str, Any]] = {}
        self.connections_accepted = 0
        self.internal_errors: list[str] = []

        self._lock = threading.RLock()
        self._reject_rng = random.Random(f"{seed}:429")
        self._id_rng = random.Random(f"{seed}:ids")
        self._indices: dict[str, _Index] = {}
        self._data_streams: dict[str, _DataStream] = {}
        self._aliases: dict[str, dict[str, bool]] = {}
        self._ilm_versions: dict[str, int] = {}
        self._ism_seq = 0
        self._failures: list[_FailurePlan] = []
        self._reject_next = 0
        self._wake = threading.Event()
        self.cluster_uuid = self._random_token(16)
        self.node_name = "esdouble-node-0"
        self._build_hash = hashlib.sha1(f"esdouble-{flavor}-{self.version_number}".encode()).hexdigest()

        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        if start:
            self.start()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Bind (the same port again if one was already chosen) and serve in a background thread."""
        with self._lock:
            if self._server is not None:
                return
            self._wake.clear()
            server = _HttpServer((self.host, self.port), self)
            self.port = server.server_address[1]
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.name = f"EsDouble-{self.flavor}-{self.port}"
            thread.start()
            self._server, self._thread = server, thread

    def close(self) -> None:
        """Stop serving and cut open connections; state (documents, requests) stays readable."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._wake.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def down(self) -> None:
        """Simulate the cluster going away: the port is closed (connection refused) and live sockets cut."""
        self.close()

    def up(self) -> None:
        """Bring the double back on the same port after ``down()``."""
        self.start()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def __enter__(self) -> EsDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """Base URL including any ``path_prefix``, without a trailing slash."""
        return f"http://{self.host}:{self.port}{self.path_prefix}"

    def __repr__(self) -> str:
        state = "up" if self.is_up else "down"
        return f"<EsDouble {self.flavor} {self.version_number} {self.url} {state}>"

    # ---------------------------------------------------------------- fault injection

    def fail_next_requests(self, n: int, status: int = 503, *, body: Any = None, bulk_only: bool = True) -> None:
        """Answer the next ``n`` requests (only ``_bulk`` ones unless ``bulk_only=False``) with ``status``.

        The body imitates what sits in front of or inside a cluster for that status (503 cluster block,
        429 rejected execution, 502/504 proxy HTML, 413 empty); ``body`` (dict, str or bytes) overrides it.
        """
        with self._lock:
            self._failures.extend(_FailurePlan(status, body, bulk_only) for _ in range(n))

    def reject_next_items(self, n: int) -> None:
        """Reject the next ``n`` bulk items with a per-item 429, independently of ``reject_ratio_429``."""
        with self._lock:
            self._reject_next += n

    # ---------------------------------------------------------------- setup helpers

    def add_data_stream(self, name: str) -> None:
        """Create data stream ``name`` now (as ``PUT /_data_stream/<name>`` would with a matching template)."""
        with self._lock:
            if name not in self._data_streams:
                self._create_data_stream(name, template=None)

    def add_alias(self, alias: str, index: str, *, is_write_index: bool = True) -> None:
        """Point ``alias`` at ``index`` (created if missing), as ILM bootstrapping does."""
        with self._lock:
            if index not in self._indices:
                self._create_index(index)
            self._aliases.setdefault(alias, {})[index] = is_write_index

    def create_index(self, name: str, mappings: dict[str, Any] | None = None) -> None:
        """Create an index with explicit ``mappings`` (same shape as the ``mappings`` of ``PUT /<index>``)."""
        with self._lock:
            self._create_index(name, body={"mappings": mappings or {}})

    # ---------------------------------------------------------------- state for assertions

    def documents(self, index: str | None = None) -> list[dict[str, Any]]:
        """Stored documents as dicts with ``_index`` (concrete) and ``_id`` added, in write order.

        ``index`` may be an index, alias, data stream or wildcard; None means everything.
        """
        with self._lock:
            targets = list(self._indices.values()) if index is None else self._resolve_read(index, strict=False)
            return [
                {"_index": idx.name, "_id": doc_id, **copy.deepcopy(doc.source)}
                for idx in targets
                for doc_id, doc in idx.docs.items()
            ]

    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        """The ``_source`` of one document, or None."""
        with self._lock:
            for idx in self._resolve_read(index, strict=False):
                if doc_id in idx.docs:
                    return copy.deepcopy(idx.docs[doc_id].source)
        return None

    def indices(self) -> list[str]:
        """Concrete index names (data-stream backing indices included), in creation order."""
        with self._lock:
            return list(self._indices)

    def data_streams(self) -> list[str]:
        with self._lock:
            return list(self._data_streams)

    def mapping(self, index: str) -> dict[str, Any]:
        """The current mapping of a concrete index (or of a data stream's write index)."""
        with self._lock:
            targets = self._resolve_read(index, strict=False)
            if not targets:
                raise KeyError(index)
            return self._render_mapping(targets[-1].mapping)

    @property
    def bulk_requests(self) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.is_bulk]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ---------------------------------------------------------------- internals: bookkeeping

    def _note_connection(self) -> None:
        with self._lock:
            self.connections_accepted += 1

    def _note_internal_error(self, text: str) -> None:
        with self._lock:
            self.internal_errors.append(text)

    def _random_token(self, nbytes: int) -> str:
        return base64.urlsafe_b64encode(self._id_rng.randbytes(nbytes)).decode().rstrip("=")

    def _new_id(self) -> str:
        # Elasticsearch's auto-generated ids are 20 URL-safe base64 characters (15 bytes).
        return self._random_token(15)

    def _now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.timezone.utc)

    # ---------------------------------------------------------------- internals: indices

    def _create_index(self, name: str, *, body: dict[str, Any] | None = None, data_stream: str | None = None) -> _Index:
        mapping: dict[str, Any] = {"properties": {}}
        settings: dict[str, Any] = {}
        aliases: dict[str, Any] = {}
        template_name, template = self._best_template(name)
        if template is not None:
            for comp in template.get("composed_of", []) or []:
                part = self.component_templates.get(comp, {}).get("template", {})
                _merge_mapping(mapping, part.get("mappings") or {})
                settings.update(part.get("settings") or {})
                aliases.update(part.get("aliases") or {})
            own = template.get("template", {}) or {}
            _merge_mapping(mapping, own.get("mappings") or {})
            settings.update(own.get("settings") or {})
            aliases.update(own.get("aliases") or {})
        elif template_name is None:
            for legacy in sorted(
                (t for t in self.legacy_templates.values() if self._matches(name, t.get("index_patterns"))),
                key=lambda t: t.get("order", 0),
            ):
                _merge_mapping(mapping, legacy.get("mappings") or {})
                settings.update(legacy.get("settings") or {})
                aliases.update(legacy.get("aliases") or {})
        if body:
            _merge_mapping(mapping, body.get("mappings") or {})
            settings.update(body.get("settings") or {})
            aliases.update(body.get("aliases") or {})
        if data_stream is not None:
            # Data streams force a date mapping on their timestamp field.
            props = mapping.setdefault("properties", {})
            current = props.get("@timestamp")
            if not (isinstance(current, dict) and current.get("type") in _DATE_TYPES):
                props["@timestamp"] = {"type": "date"}
        idx = _Index(
            name=name,
            uuid=self._random_token(16),
            mapping=mapping,
            settings=settings,
            created_ms=int(time.time() * 1000),
            data_stream=data_stream,
        )
        self._indices[name] = idx
        for alias, spec in aliases.items():
            is_write = bool((spec or {}).get("is_write_index", False))
            self._aliases.setdefault(alias, {})[name] = is_write
        return idx

    def _create_data_stream(self, name: str, template: str | None) -> _DataStream:
        # OpenSearch names backing indices without the date that Elasticsearch 7.11+ puts in them.
        suffix = "000001" if self.flavor == "opensearch2" else f"{self._now():%Y.%m.%d}-000001"
        backing = f".ds-{name}-{suffix}"
        self._create_index(backing, data_stream=name)
        ds = _DataStream(name=name, indices=[backing], template=template)
        self._data_streams[name] = ds
        return ds

    @staticmethod
    def _matches(name: str, patterns: Any) -> bool:
        if isinstance(patterns, str):
            patterns = [patterns]
        return any(fnmatch.fnmatchcase(name, p) for p in patterns or [])

    def _best_template(self, name: str) -> tuple[str | None, dict[str, Any] | None]:
        """Highest-priority composable template for ``name``; the built-in data-stream ones included."""
        best: tuple[int, int, str, dict[str, Any]] | None = None
        for tname, tmpl in self.templates.items():
            if self._matches(name, tmpl.get("index_patterns")):
                key = (int(tmpl.get("priority", 0) or 0), 1, tname, tmpl)
                if best is None or key[:2] > best[:2]:
                    best = key
        for pattern in self.data_stream_patterns:
            if fnmatch.fnmatchcase(name, pattern):
                # Stock Elasticsearch calls these templates "logs", "metrics", "synthetics".
                builtin = {"index_patterns": [pattern], "data_stream": {}, "priority": _BUILTIN_TEMPLATE_PRIORITY}
                key = (_BUILTIN_TEMPLATE_PRIORITY, 0, pattern.split("-")[0] or pattern, builtin)
                if best is None or key[:2] > best[:2]:
                    best = key
                break
        if best is None:
            return None, None
        return best[2], best[3]

    def _resolve_read(self, expr: str, *, strict: bool = True) -> list[_Index]:
        """Indices behind an expression (comma list, wildcards, aliases, data streams), in creation order."""
        found: dict[str, _Index] = {}
        for part in expr.split(","):
            part = part.strip()
            if not part:
                continue
            if part in ("_all", "*") or any(ch in part for ch in "*?"):
                pattern = "*" if part == "_all" else part
                for name, idx in self._indices.items():
                    if (not name.startswith(".") or pattern.startswith(".")) and fnmatch.fnmatchcase(name, pattern):
                        found[name] = idx
                for ds in self._data_streams.values():
                    if fnmatch.fnmatchcase(ds.name, pattern):
                        found.update({n: self._indices[n] for n in ds.indices})
                for alias, targets in self._aliases.items():
                    if fnmatch.fnmatchcase(alias, pattern):
                        found.update({n: self._indices[n] for n in targets if n in self._indices})
                continue
            if part in self._indices:
                found[part] = self._indices[part]
            elif part in self._data_streams:
                found.update({n: self._indices[n] for n in self._data_streams[part].indices})
            elif part in self._aliases:
                found.update({n: self._indices[n] for n in self._aliases[part] if n in self._indices})
            elif strict:
                raise self._index_not_found(part)
        order = list(self._indices)
        return sorted(found.values(), key=lambda i: order.index(i.name))

    @staticmethod
    def _index_not_found_body(name: str) -> dict[str, Any]:
        return {
            "type": "index_not_found_exception",
            "reason": f"no such index [{name}]",
            "resource.type": "index_or_alias",
            "resource.id": name,
            "index_uuid": "_na_",
            "index": name,
        }

    def _index_not_found(self, name: str) -> _ApiError:
        body = self._index_not_found_body(name)
        return _ApiError(404, body.pop("type"), body.pop("reason"), **body)

    @staticmethod
    def _render_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
        def render(node: dict[str, Any]) -> dict[str, Any]:
            out = {k: copy.deepcopy(v) for k, v in node.items() if k != "properties"}
            if "properties" in node:
                out["properties"] = {name: render(child) for name, child in node["properties"].items()}
            return out

        rendered = render(mapping)
        if not rendered.get("properties"):
            rendered.pop("properties", None)
        return rendered

    # ---------------------------------------------------------------- internals: HTTP serving

    @property
    def _json_content_type(self) -> str:
        return "application/json;charset=utf-8" if self.flavor == "es8" else "application/json; charset=UTF-8"

    def _serve(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        record = RequestRecord(
            method=h.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in h.headers.items()},
        )
        with self._lock:
            self.requests.append(record)
        try:
            reply = self._process(h, record, split.path, split.query)
        except OSError:
            h.close_connection = True  # the client went away mid-request; nobody to answer
            return
        except _ApiError as err:
            reply = _Reply(err.status, err.body())
        except Exception as exc:  # a bug in the double: answer 500 and keep it visible to the test
            self._note_internal_error(f"{type(exc).__name__}: {exc}")
            reply = _Reply(500, _ApiError(500, "exception", f"EsDouble internal error: {exc}").body())
        self._send(h, record, reply)

    def _read_body(self, h: _Handler) -> bytes | _Reply:
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = h.rfile.readline(65537)
                try:
                    size = int(size_line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    return _Reply(400, "bad chunked encoding", "text/plain; charset=UTF-8", close=True)
                if size == 0:
                    while h.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(h.rfile.read(size))
                h.rfile.readline(65537)
                total += size
                if total > self.max_content_length:
                    return _Reply(413, None, close=True)
            return b"".join(chunks)
        length_text = h.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            return _Reply(400, "bad Content-Length", "text/plain; charset=UTF-8", close=True)
        if length > self.max_content_length:
            return _Reply(413, None, close=True)
        return h.rfile.read(length) if length > 0 else b""

    def _process(self, h: _Handler, record: RequestRecord, path: str, query: str) -> _Reply:
        raw = self._read_body(h)
        if isinstance(raw, _Reply):
            return raw
        record.raw_body = raw
        encoding = (h.headers.get("Content-Encoding") or "").strip().lower()
        record.content_encoding = encoding or None
        body = raw
        if raw and encoding in ("gzip", "x-gzip"):
            record.gzip = True
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as exc:
                raise _ApiError(400, "parse_exception", f"failed to decompress gzip request body: {exc}") from exc
        elif raw and encoding == "deflate":
            try:
                body = zlib.decompress(raw)
            except zlib.error:
                try:
                    body = zlib.decompress(raw, -zlib.MAX_WBITS)
                except zlib.error as exc:
                    raise _ApiError(400, "parse_exception", f"failed to inflate request body: {exc}") from exc
        elif raw and encoding not in ("", "identity"):
            raise _ApiError(400, "illegal_argument_exception", f"Unsupported Content-Encoding [{encoding}]")
        if len(body) > self.max_content_length:
            return _Reply(413, None, close=True)
        record.body = body

        if self.delay > 0:
            self._wake.wait(self.delay)

        if self.path_prefix:
            if path != self.path_prefix and not path.startswith(self.path_prefix + "/"):
                return _Reply(404, "404 page not found\n", "text/plain; charset=utf-8")
            path = path[len(self.path_prefix) :] or "/"
        segs = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
        uri = path + (f"?{query}" if query else "")
        is_bulk_path = bool(segs) and segs[-1] == "_bulk"
        if is_bulk_path:
            record.route = "bulk"

        with self._lock:
            plan = None
            for i, candidate in enumerate(self._failures):
                if is_bulk_path or not candidate.bulk_only:
                    plan = self._failures.pop(i)
                    break
        if plan is not None:
            return self._injected_failure(plan)

        denied = self._authenticate(h, uri)
        if denied is not None:
            return denied

        params = dict(parse_qsl(query, keep_blank_values=True))
        negotiated = self._negotiate(h, body)
        if isinstance(negotiated, _Reply):
            return negotiated
        reply = self._route(h.command, segs, uri, params, body, record)
        if reply.content_type is None and not isinstance(reply.body, (str, bytes)) and reply.body is not None:
            reply.content_type = negotiated
        if "filter_path" in params and isinstance(reply.body, (dict, list)) and reply.status < 300:
            reply.body = _filter_path(reply.body, params["filter_path"])
        if "pretty" in params and isinstance(reply.body, (dict, list)):
            reply.body = _dump(reply.body, pretty=True)
        return reply

    def _negotiate(self, h: _Handler, body: bytes) -> str | _Reply:
        """Check Content-Type / Accept like Elasticsearch's REST layer; return the response media type."""
        content_type = h.headers.get("Content-Type")
        accept = h.headers.get("Accept")
        default = self._json_content_type
        if body:
            if content_type is None:
                return _Reply(406, {"error": "Content-Type header is missing", "status": 406})
            mime = content_type.split(";")[0].strip().lower()
            allowed = {"application/json", "application/x-ndjson"}
            if self.flavor != "opensearch2":
                allowed |= {"application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson"}
            if mime not in allowed:
                return _Reply(406, {"error": f"Content-Type header [{content_type}] is not supported", "status": 406})
        if self.flavor == "opensearch2":
            return default
        compat: list[int] = []
        vnd_headers = 0
        for value in (content_type if body else None, accept):
            if value and "vnd.elasticsearch" in value:
                vnd_headers += 1
                m = re.search(r"compatible-with\s*=\s*(\d+)", value)
                compat.append(int(m.group(1)) if m else -1)
        allowed_versions = {7} if self.flavor == "es7" else {7, 8}
        mismatch = bool(compat) and (
            any(v not in allowed_versions for v in compat)
            or len(set(compat)) > 1
            or (bool(body) and vnd_headers == 1 and bool(accept) and bool(content_type))
        )
        if mismatch:
            raise _ApiError(
                400,
                "media_type_header_exception",
                "Invalid media-type value on headers [Accept, Content-Type]",
                caused_by={
                    "type": "status_exception",
                    "reason": "A compatible version is required on both Content-Type and Accept headers if either "
                    "one has requested a compatible version and the compatible versions must match. "
                    f"Accept={accept}, Content-Type={content_type}",
                },
            )
        if compat:
            return f"application/vnd.elasticsearch+json;compatible-with={compat[0]}"
        return default

    def _send(self, h: _Handler, record: RequestRecord, reply: _Reply) -> None:
        body = reply.body
        content_type = reply.content_type
        if isinstance(body, (dict, list)):
            payload = _dump(body)
            content_type = content_type or self._json_content_type
        elif isinstance(body, str):
            payload = body.encode()
            content_type = content_type or "text/plain; charset=UTF-8"
        elif isinstance(body, bytes):
            payload = body
            content_type = content_type or self._json_content_type
        else:
            payload = b""
        headers = list(reply.headers)
        if self.flavor in ("es7", "es8"):
            headers.append(("X-elastic-product", "Elasticsearch"))
        opaque = h.headers.get("X-Opaque-Id")
        if opaque:
            headers.append(("X-Opaque-Id", opaque))
        record.status = reply.status
        record.response = payload
        accept_encoding = (h.headers.get("Accept-Encoding") or "").lower()
        if self.compress_responses and payload and "gzip" in accept_encoding:
            payload = gzip.compress(payload)
            headers.append(("Content-Encoding", "gzip"))
        if content_type:
            headers.append(("Content-Type", content_type))
        headers.append(("Content-Length", str(len(payload))))
        if reply.close:
            headers.append(("Connection", "close"))
        try:
            h.send_response_only(reply.status)
            for name, value in headers:
                h.send_header(name, value)
            h.end_headers()
            if h.command != "HEAD" and payload:
                h.wfile.write(payload)
        except OSError:
            h.close_connection = True
        if reply.close:
            h.close_connection = True

    def _injected_failure(self, plan: _FailurePlan) -> _Reply:
        if plan.body is not None:
            if isinstance(plan.body, (dict, list)):
                return _Reply(plan.status, plan.body)
            return _Reply(plan.status, plan.body, "text/plain; charset=UTF-8" if isinstance(plan.body, str) else None)
        status = plan.status
        if status == 429:
            return _Reply(
                429, _ApiError(429, "es_rejected_execution_exception", self._rejection_reason("_bulk")).body()
            )
        if status == 503:
            block = "no cluster-manager" if self.flavor == "opensearch2" else "no master"
            err = _ApiError(503, "cluster_block_exception", f"blocked by: [SERVICE_UNAVAILABLE/2/{block}];")
            return _Reply(503, err.body())
        if status in (502, 504):
            text = "Bad Gateway" if status == 502 else "Gateway Timeout"
            html = (
                f"<html>\r\n<head><title>{status} {text}</title></head>\r\n<body>\r\n<center><h1>{status} {text}</h1>"
            )
            return _Reply(status, html + "</center>\r\n</body>\r\n</html>\r\n", "text/html")
        if status == 413:
            return _Reply(413, None, close=True)
        if status in (401, 403):
            return _Reply(status, _ApiError(status, "security_exception", "injected authentication failure").body())
        return _Reply(status, _ApiError(status, "exception", f"EsDouble injected failure [{status}]").body())

    def _rejection_reason(self, index: str) -> str:
        return (
            f"rejected execution of primary operation [shard_detail=[{index}][0][P]] on "
            f"EsThreadPoolExecutor[name = {self.node_name}/write, queue capacity = 10000, "
            "task execution EWMA = 1.2ms, total task execution time = 3.4s, "
            "org.elasticsearch.common.util.concurrent.EsThreadPoolExecutor@1a2b3c4d"
            "[Running, pool size = 8, active threads = 8, queued tasks = 10000, completed tasks = 123456]]"
        )

    # ---------------------------------------------------------------- internals: authentication

    def _authenticate(self, h: _Handler, uri: str) -> _Reply | None:
        if self.basic is None and self.api_key is None and self.bearer is None:
            return None
        header = h.headers.get("Authorization")
        if header:
            scheme, _, credential = header.strip().partition(" ")
            scheme = scheme.lower()
            credential = credential.strip()
            if scheme == "basic":
                try:
                    user, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    user, password = "", None
                if self.basic is not None and (user, password) == tuple(self.basic):
                    return None
                return self._unauthorized(f"unable to authenticate user [{user}] for REST request [{uri}]")
            if scheme == "apikey" and self.flavor != "opensearch2":
                expected = base64.b64encode(self.api_key.encode()).decode() if self.api_key else None
                if expected is not None and credential == expected:
                    return None
                try:
                    key_id = base64.b64decode(credential, validate=True).decode().partition(":")[0]
                except (binascii.Error, UnicodeDecodeError):
                    key_id = "?"
                return self._unauthorized(
                    "unable to authenticate with provided credentials and anonymous access is not allowed for "
                    "this request",
                    additional_unsuccessful_credentials=f"API key: unable to find apikey with id {key_id}",
                )
            if scheme == "bearer":
                if self.bearer is not None and credential == self.bearer:
                    return None
                return self._unauthorized(
                    "unable to authenticate with provided credentials and anonymous access is not allowed for "
                    "this request",
                    additional_unsuccessful_credentials="oauth2 token: token malformed or expired",
                )
        return self._unauthorized(f"missing authentication credentials for REST request [{uri}]")

    def _unauthorized(self, reason: str, **extra: Any) -> _Reply:
        if self.flavor == "opensearch2":
            # The OpenSearch security plugin answers with a bare text body and its own realm.
            return _Reply(
                401,
                "Unauthorized",
                "text/plain; charset=UTF-8",
                headers=[("WWW-Authenticate", _OPENSEARCH_CHALLENGE)],
            )
        header = {"WWW-Authenticate": list(_SECURITY_CHALLENGES)}
        err = _ApiError(401, "security_exception", reason, **extra, header=header)
        return _Reply(401, err.body(), headers=[("WWW-Authenticate", c) for c in _SECURITY_CHALLENGES])

    # ---------------------------------------------------------------- internals: routing

    def _route(
        self, method: str, segs: list[str], uri: str, params: dict[str, str], body: bytes, record: RequestRecord
    ) -> _Reply:
        def allow(*methods: str) -> None:
            if method not in methods:
                path = uri.split("?")[0]
                raise _MethodNotAllowed(path, method, methods)

        try:
            if not segs:
                record.route = "info"
                allow("GET", "HEAD")
                return _Reply(200, self._info_body())
            head, n = segs[0], len(segs)
            if segs[-1] == "_bulk" and (n == 1 or n == 2 or (n == 3 and self.flavor == "es7")):
                allow("POST", "PUT")
                default_index = segs[0] if n >= 2 else None
                return self._bulk(body, default_index, params, record)
            if head == "_index_template" and n <= 2:
                record.route = "index_template"
                return self._templates_api(method, segs[1] if n == 2 else None, body, self.templates, composable=True)
            if head == "_component_template" and n <= 2:
                record.route = "component_template"
                return self._templates_api(method, segs[1] if n == 2 else None, body, self.component_templates)
            if head == "_template" and n <= 2:
                record.route = "legacy_template"
                return self._templates_api(method, segs[1] if n == 2 else None, body, self.legacy_templates)
            if head == "_ilm" and n >= 2 and segs[1] == "policy" and n <= 3 and self.flavor != "opensearch2":
                record.route = "ilm_policy"
                return self._ilm_api(method, segs[2] if n == 3 else None, body)
            if (
                head in ("_plugins", "_opendistro")
                and n in (3, 4)
                and segs[1] == "_ism"
                and segs[2] == "policies"
                and self.flavor == "opensearch2"
            ):
                record.route = "ism_policy"
                return self._ism_api(method, segs[3] if n == 4 else None, body, params)
            if head == "_data_stream" and n <= 2:
                record.route = "data_stream"
                return self._data_stream_api(method, segs[1] if n == 2 else None)
            if head == "_cat" and n >= 2 and segs[1] == "indices" and n <= 3:
                record.route = "cat_indices"
                allow("GET")
                return self._cat_indices(segs[2] if n == 3 else None, params)
            if head == "_cluster" and n == 2 and segs[1] == "health":
                record.route = "cluster_health"
                allow("GET")
                return _Reply(200, self._health_body())
            if segs[-1] == "_refresh" and n <= 2:
                record.route = "refresh"
                allow("POST", "GET")
                targets = self._read_targets(segs[0] if n == 2 else None)
                total = len(targets)
                return _Reply(200, {"_shards": {"total": total * 2, "successful": total, "failed": 0}})
            if segs[-1] == "_count" and n <= 2:
                record.route = "count"
                allow("GET", "POST")
                targets = self._read_targets(segs[0] if n == 2 else None)
                count = sum(len(i.docs) for i in targets)
                shards = {"total": len(targets), "successful": len(targets), "skipped": 0, "failed": 0}
                return _Reply(200, {"count": count, "_shards": shards})
            if segs[-1] == "_search" and n <= 2:
                record.route = "search"
                allow("GET", "POST")
                return self._search(segs[0] if n == 2 else None, body, params)
            if n == 2 and segs[1] == "_mapping" and not head.startswith("_"):
                record.route = "mapping"
                allow("GET")
                with self._lock:
                    targets = self._resolve_read(head)
                    return _Reply(200, {i.name: {"mappings": self._render_mapping(i.mapping)} for i in targets})
            if n == 3 and segs[1] == "_doc" and not head.startswith("_"):
                record.route = "get_doc"
                allow("GET", "HEAD")
                return self._get_doc(head, segs[2])
            if n == 2 and head == "_alias":
                record.route = "alias"
                allow("GET", "HEAD")
                return self._get_alias(segs[1])
            if n == 3 and segs[1] in ("_alias", "_aliases") and not head.startswith("_"):
                record.route = "alias"
                allow("PUT", "POST")
                with self._lock:
                    self._resolve_read(head)
                    body_obj = self._json_body(body) if body else {}
                    self._aliases.setdefault(segs[2], {})[head] = bool(body_obj.get("is_write_index", False))
                return _Reply(200, {"acknowledged": True})
            if n == 1 and not head.startswith("_"):
                record.route = "index"
                allow("PUT", "HEAD", "GET", "DELETE")
                return self._index_api(method, head, body)
        except _MethodNotAllowed as exc:
            allowed = ", ".join(exc.allowed)
            return _Reply(
                405,
                {
                    "error": f"Incorrect HTTP method for uri [{exc.path}] and method [{exc.method}], "
                    f"allowed: [{allowed}]",
                    "status": 405,
                },
            )
        record.route = record.route or "unknown"
        path = uri.split("?")[0]
        return _Reply(400, {"error": f"no handler found for uri [{path}] and method [{method}]"})

    def _info_body(self) -> dict[str, Any]:
        facts = _FLAVOR_FACTS[self.flavor]
        version: dict[str, Any] = {}
        if self.flavor == "opensearch2":
            version["distribution"] = "opensearch"
        version["number"] = self.version_number
        if self.flavor != "opensearch2":
            version["build_flavor"] = "default"
        version.update(
            {
                "build_type": "docker",
                "build_hash": self._build_hash,
                "build_date": facts["build_date"],
                "build_snapshot": False,
                "lucene_version": facts["lucene"],
                "minimum_wire_compatibility_version": facts["wire"],
                "minimum_index_compatibility_version": facts["index"],
            }
        )
        tagline = (
            "The OpenSearch Project: https://opensearch.org/"
            if self.flavor == "opensearch2"
            else ("You Know, for Search")
        )
        return {
            "name": self.node_name,
            "cluster_name": self.cluster_name,
            "cluster_uuid": self.cluster_uuid,
            "version": version,
            "tagline": tagline,
        }

    def _health_body(self) -> dict[str, Any]:
        with self._lock:
            n = len(self._indices)
        return {
            "cluster_name": self.cluster_name,
            "status": "yellow" if n else "green",  # one node cannot host the default replica
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": n,
            "active_shards": n,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": n,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 50.0 if n else 100.0,
        }

    def _json_body(self, body: bytes) -> dict[str, Any]:
        try:
            obj = _strict_loads(body)
        except (ValueError, RecursionError) as exc:
            msg, col = _json_error_position(exc)
            etype = "x_content_parse_exception" if self.flavor == "es8" else "json_parse_exception"
            raise _ApiError(400, etype, f"[1:{col}] {msg}") from exc
        if not isinstance(obj, dict):
            raise _ApiError(400, "parse_exception", "request body must be a JSON object")
        return obj

    def _read_targets(self, expr: str | None) -> list[_Index]:
        with self._lock:
            if expr is None:
                return list(self._indices.values())
            return self._resolve_read(expr)

    # ---------------------------------------------------------------- internals: admin APIs

    def _templates_api(
        self, method: str, name: str | None, body: bytes, store: dict[str, dict[str, Any]], composable: bool = False
    ) -> _Reply:
        kind = "index template" if composable else "index_template"
        if name is None:
            if method != "GET":
                raise _MethodNotAllowed("/", method, ("GET",))
            with self._lock:
                items = dict(store)
            return _Reply(200, self._render_templates(items, store))
        if method in ("PUT", "POST"):
            obj = self._json_body(body) if body else {}
            if store is not self.component_templates and not obj.get("index_patterns"):
                raise _ApiError(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: index patterns are missing;",
                )
            with self._lock:
                store[name] = obj
            return _Reply(200, {"acknowledged": True})
        with self._lock:
            present = name in store
            item = copy.deepcopy(store.get(name))
        if method == "HEAD":
            return _Reply(200 if present else 404, None)
        if method == "DELETE":
            if not present:
                raise _ApiError(404, "resource_not_found_exception", f"{kind} matching [{name}] not found")
            with self._lock:
                store.pop(name, None)
            return _Reply(200, {"acknowledged": True})
        if method == "GET":
            if not present:
                raise _ApiError(404, "resource_not_found_exception", f"{kind} matching [{name}] not found")
            return _Reply(200, self._render_templates({name: item or {}}, store))
        raise _MethodNotAllowed(f"/{name}", method, ("GET", "HEAD", "PUT", "POST", "DELETE"))

    def _render_templates(self, items: dict[str, dict[str, Any]], store: dict[str, dict[str, Any]]) -> Any:
        if store is self.templates:
            return {"index_templates": [{"name": n, "index_template": t} for n, t in items.items()]}
        if store is self.component_templates:
            return {"component_templates": [{"name": n, "component_template": t} for n, t in items.items()]}
        return items

    def _ilm_api(self, method: str, name: str | None, body: bytes) -> _Reply:
        if name is None:
            if method != "GET":
                raise _MethodNotAllowed("/_ilm/policy", method, ("GET",))
            with self._lock:
                return _Reply(200, {n: self._ilm_entry(n) for n in self.ilm_policies})
        if method == "PUT":
            obj = self._json_body(body) if body else {}
            if not isinstance(obj.get("policy"), dict):
                raise _ApiError(400, "x_content_parse_exception", "[1:2] Required [policy]")
            with self._lock:
                self.ilm_policies[name] = obj
                self._ilm_versions[name] = self._ilm_versions.get(name, 0) + 1
            return _Reply(200, {"acknowledged": True})
        with self._lock:
            present = name in self.ilm_policies
            if method == "GET":
                if not present:
                    raise _ApiError(404, "resource_not_found_exception", f"Lifecycle policy not found: [{name}]")
                return _Reply(200, {name: self._ilm_entry(name)})
            if method == "DELETE":
                if not present:
                    raise _ApiError(404, "resource_not_found_exception", f"Lifecycle policy not found: [{name}]")
                self.ilm_policies.pop(name)
                return _Reply(200, {"acknowledged": True})
        raise _MethodNotAllowed(f"/_ilm/policy/{name}", method, ("GET", "PUT", "DELETE"))

    def _ilm_entry(self, name: str) -> dict[str, Any]:
        return {
            "version": self._ilm_versions.get(name, 1),
            "modified_date": self._now().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "policy": copy.deepcopy(self.ilm_policies[name].get("policy", {})),
        }

    def _ism_api(self, method: str, name: str | None, body: bytes, params: dict[str, str]) -> _Reply:
        if name is None:
            if method != "GET":
                raise _MethodNotAllowed("/_plugins/_ism/policies", method, ("GET",))
            with self._lock:
                policies = [self._ism_entry(n) for n in self.ism_policies]
            return _Reply(200, {"policies": policies, "total_policies": len(policies)})
        if method == "PUT":
            obj = self._json_body(body) if body else {}
            if not isinstance(obj.get("policy"), dict):
                raise _ApiError(400, "illegal_argument_exception", "Required body field [policy] is missing")
            with self._lock:
                existing = self.ism_policies.get(name)
                if existing is not None and "if_seq_no" not in params:
                    raise _ApiError(
                        409,
                        "version_conflict_engine_exception",
                        f"[{name}]: version conflict, document already exists (current version [1])",
                        index_uuid=self.cluster_uuid,
                        shard="0",
                        index=".opendistro-ism-config",
                    )
                stored = copy.deepcopy(obj)
                stored["policy"]["policy_id"] = name
                stored["_seq_no"] = self._ism_seq
                self._ism_seq += 1
                self.ism_policies[name] = stored
                entry = self._ism_entry(name)
            return _Reply(200 if existing else 201, entry)
        with self._lock:
            present = name in self.ism_policies
            if not present and method in ("GET", "DELETE"):
                raise _ApiError(404, "status_exception", "Policy not found")
            if method == "GET":
                return _Reply(200, self._ism_entry(name))
            if method == "DELETE":
                self.ism_policies.pop(name)
                return _Reply(200, {"_index": ".opendistro-ism-config", "_id": name, "result": "deleted"})
        raise _MethodNotAllowed(f"/_plugins/_ism/policies/{name}", method, ("GET", "PUT", "DELETE"))

    def _ism_entry(self, name: str) -> dict[str, Any]:
        stored = self.ism_policies[name]
        return {
            "_id": name,
            "_version": 1,
            "_primary_term": 1,
            "_seq_no": stored.get("_seq_no", 0),
            "policy": {"policy": copy.deepcopy(stored["policy"])},
        }

    def _data_stream_api(self, method: str, name: str | None) -> _Reply:
        with self._lock:
            if name is None or method == "GET":
                if method != "GET":
                    raise _MethodNotAllowed("/_data_stream", method, ("GET",))
                names = list(self._data_streams) if name in (None, "*", "_all") else [name]
                if name not in (None, "*", "_all") and name not in self._data_streams:
                    raise self._index_not_found(name)
                return _Reply(200, {"data_streams": [self._ds_entry(self._data_streams[n]) for n in names]})
            if method == "PUT":
                if name in self._data_streams:
                    raise _ApiError(400, "resource_already_exists_exception", f"data_stream [{name}] already exists")
                tname, tmpl = self._best_template(name)
                if tmpl is None or "data_stream" not in tmpl:
                    raise _ApiError(
                        400,
                        "illegal_argument_exception",
                        f"no matching index template found for data stream [{name}]",
                    )
                self._create_data_stream(name, template=tname)
                return _Reply(200, {"acknowledged": True})
            if method == "DELETE":
                ds = self._data_streams.pop(name, None)
                if ds is None:
                    raise self._index_not_found(name)
                for backing in ds.indices:
                    self._indices.pop(backing, None)
                return _Reply(200, {"acknowledged": True})
        raise _MethodNotAllowed(f"/_data_stream/{name}", method, ("GET", "PUT", "DELETE"))

    def _ds_entry(self, ds: _DataStream) -> dict[str, Any]:
        return {
            "name": ds.name,
            "timestamp_field": {"name": ds.timestamp_field},
            "indices": [{"index_name": n, "index_uuid": self._indices[n].uuid} for n in ds.indices],
            "generation": len(ds.indices),
            "status": "YELLOW",
            "template": ds.template or "(added by EsDouble.add_data_stream)",
        }

    def _cat_indices(self, expr: str | None, params: dict[str, str]) -> _Reply:
        with self._lock:
            targets = list(self._indices.values()) if expr is None else self._resolve_read(expr)
            rows = []
            for idx in targets:
                size = sum(len(_dump(d.source)) for d in idx.docs.values())
                row = {
                    "health": "yellow",
                    "status": "open",
                    "index": idx.name,
                    "uuid": idx.uuid,
                    "pri": "1",
                    "rep": "1",
                    "docs.count": str(len(idx.docs)),
                    "docs.deleted": str(idx.deleted),
                    "store.size": f"{size}b",
                    "pri.store.size": f"{size}b",
                }
                if self.flavor == "es8":
                    row["dataset.size"] = f"{size}b"
                rows.append(row)
        if params.get("format") == "json":
            return _Reply(200, rows)
        columns = list(rows[0]) if rows else ["health", "status", "index", "uuid", "pri", "rep", "docs.count"]
        lines = [columns] if "v" in params else []
        lines += [[row[c] for c in columns] for row in rows]
        widths = [max((len(line[i]) for line in lines), default=0) for i in range(len(columns))]
        text = "".join(
            " ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n" for line in lines
        )
        return _Reply(200, text, "text/plain; charset=UTF-8")

    def _search(self, expr: str | None, body: bytes, params: dict[str, str]) -> _Reply:
        obj = self._json_body(body) if body else {}
        query = obj.get("query", {"match_all": {}})
        if list(query) != ["match_all"]:
            raise _ApiError(
                400,
                "illegal_argument_exception",
                f"EsDouble only implements match_all, not {sorted(query)} (this is a protocol double)",
            )
        size = int(obj.get("size", params.get("size", 10)))
        start = int(obj.get("from", params.get("from", 0)))
        targets = self._read_targets(expr)
        with self._lock:
            hits = []
            for idx in targets:
                for doc_id, doc in idx.docs.items():
                    hit: dict[str, Any] = {"_index": idx.name}
                    if self.flavor == "es7":
                        hit["_type"] = "_doc"
                    hit.update({"_id": doc_id, "_score": 1.0, "_source": copy.deepcopy(doc.source)})
                    hits.append(hit)
        total = len(hits)
        shards = {"total": len(targets), "successful": len(targets), "skipped": 0, "failed": 0}
        return _Reply(
            200,
            {
                "took": 1,
                "timed_out": False,
                "_shards": shards,
                "hits": {
                    "total": {"value": total, "relation": "eq"},
                    "max_score": 1.0 if total else None,
                    "hits": hits[start : start + size],
                },
            },
        )

    def _get_doc(self, expr: str, doc_id: str) -> _Reply:
        with self._lock:
            targets = self._resolve_read(expr)
            for idx in targets:
                doc = idx.docs.get(doc_id)
                if doc is not None:
                    out: dict[str, Any] = {"_index": idx.name}
                    if self.flavor == "es7":
                        out["_type"] = "_doc"
                    out.update(
                        {
                            "_id": doc_id,
                            "_version": doc.version,
                            "_seq_no": doc.seq_no,
                            "_primary_term": 1,
                            "found": True,
                            "_source": copy.deepcopy(doc.source),
                        }
                    )
                    return _Reply(200, out)
            name = targets[-1].name if targets else expr
        missing: dict[str, Any] = {"_index": name}
        if self.flavor == "es7":
            missing["_type"] = "_doc"
        missing.update({"_id": doc_id, "found": False})
        return _Reply(404, missing)

    def _get_alias(self, alias: str) -> _Reply:
        with self._lock:
            targets = self._aliases.get(alias)
            if not targets:
                return _Reply(404, {"error": f"alias [{alias}] missing", "status": 404})
            return _Reply(
                200,
                {idx: {"aliases": {alias: {"is_write_index": w} if w else {}}} for idx, w in targets.items()},
            )

    def _index_api(self, method: str, name: str, body: bytes) -> _Reply:
        name = _resolve_date_math(name, self._now())
        with self._lock:
            exists = name in self._indices or name in self._data_streams or name in self._aliases
            if method == "HEAD":
                return _Reply(200 if exists else 404, None)
            if method == "PUT":
                bad = _invalid_index_name(name)
                if bad:
                    raise _ApiError(
                        400,
                        "invalid_index_name_exception",
                        f"Invalid index name [{name}], {bad}",
                        index_uuid="_na_",
                        index=name,
                    )
                tname, tmpl = self._best_template(name)
                if tmpl is not None and "data_stream" in tmpl:
                    # The classic ILM bootstrap (PUT logs-x-000001 + write alias) fails on a stock 8.x cluster.
                    raise _ApiError(
                        400,
                        "illegal_argument_exception",
                        f"cannot create index with name [{name}], because it matches with template [{tname}] that "
                        "creates data streams only, use create data stream api instead",
                    )
                if name in self._indices:
                    idx = self._indices[name]
                    raise _ApiError(
                        400,
                        "resource_already_exists_exception",
                        f"index [{name}/{idx.uuid}] already exists",
                        index_uuid=idx.uuid,
                        index=name,
                    )
                self._create_index(name, body=self._json_body(body) if body else None)
                return _Reply(200, {"acknowledged": True, "shards_acknowledged": True, "index": name})
            targets = self._resolve_read(name)
            if method == "DELETE":
                for idx in targets:
                    if idx.data_stream is not None:
                        raise _ApiError(
                            400,
                            "illegal_argument_exception",
                            f"index [{idx.name}] is the write index for data stream [{idx.data_stream}] and cannot "
                            "be deleted",
                        )
                for idx in targets:
                    del self._indices[idx.name]
                    for members in self._aliases.values():
                        members.pop(idx.name, None)
                return _Reply(200, {"acknowledged": True})
            out = {}
            for idx in targets:
                aliases = {
                    a: ({"is_write_index": True} if m[idx.name] else {})
                    for a, m in self._aliases.items()
                    if idx.name in m
                }
                settings = {
                    "index": {
                        "number_of_shards": "1",
                        "number_of_replicas": "1",
                        "uuid": idx.uuid,
                        "provided_name": idx.name,
                        "creation_date": str(idx.created_ms),
                        **{k.removeprefix("index."): v for k, v in idx.settings.items()},
                    }
                }
                out[idx.name] = {
                    "aliases": aliases,
                    "mappings": self._render_mapping(idx.mapping),
                    "settings": settings,
                }
            return _Reply(200, out)

    # ---------------------------------------------------------------- internals: the Bulk API

    def _bulk(self, body: bytes, default_index: str | None, params: dict[str, str], record: RequestRecord) -> _Reply:
        started = time.monotonic()
        allowed = _FLAVOR_BULK_PARAMS[self.flavor]
        for key in params:
            if key not in allowed:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"request [/{default_index + '/' if default_index else ''}_bulk] contains unrecognized "
                    f"parameter: [{key}]",
                )
        refresh = params.get("refresh", "false")
        if refresh not in ("", "true", "false", "wait_for"):
            raise _ApiError(400, "illegal_argument_exception", f"Unknown value for refresh: [{refresh}].")
        forced_refresh = refresh in ("", "true")
        url_require_alias = _parse_bool(params["require_alias"]) if "require_alias" in params else False
        if not body:
            raise _ApiError(400, "parse_exception", "request body is required")
        ops = self._parse_bulk(body, default_index)
        record.doc_count = len(ops)
        self._validate_bulk(ops)
        items: list[dict[str, Any]] = []
        with self._lock:
            for op in ops:
                key, item = self._execute(op, url_require_alias, forced_refresh)
                items.append({key: item})
                record.item_statuses.append(item["status"])
        errors = any("error" in next(iter(i.values())) for i in items)
        took = int((time.monotonic() - started) * 1000)
        return _Reply(200, {"took": took, "errors": errors, "items": items})

    def _parse_error(self, exc: Exception) -> _ApiError:
        msg, col = _json_error_position(exc)
        if self.flavor == "es8":
            return _ApiError(400, "x_content_parse_exception", f"[1:{col}] {msg}")
        return _ApiError(400, "json_parse_exception", f"{msg}\n at [Source: (byte[]); line: 1, column: {col}]")

    def _parse_bulk(self, data: bytes, default_index: str | None) -> list[_BulkOp]:
        """Split NDJSON the way Elasticsearch's BulkRequestParser does (newline markers, optional \\r)."""
        terminated = _ApiError(
            400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"
        )
        ops: list[_BulkOp] = []
        allowed_meta = _FLAVOR_META[self.flavor]
        pos, line, size = 0, 0, len(data)
        while True:
            nl = data.find(b"\n", pos)
            if nl == -1:
                if pos != size:
                    raise terminated
                break
            raw = data[pos:nl]
            pos = nl + 1
            line += 1
            raw = raw.removesuffix(b"\r")
            if not raw.strip():
                continue
            try:
                obj = _strict_loads(raw)
            except (ValueError, RecursionError) as exc:
                raise self._parse_error(exc) from exc
            if not isinstance(obj, dict):
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{line}], expected START_OBJECT but found [{_token(obj)}]",
                )
            if not obj:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{line}], expected FIELD_NAME but found [END_OBJECT]",
                )
            action, meta = next(iter(obj.items()))
            if not isinstance(meta, dict):
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{line}], expected START_OBJECT or END_OBJECT but found "
                    f"[{_token(meta)}]",
                )
            if action not in _ACTIONS:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{line}], expected field [create], [delete], [index] or "
                    f"[update] but found [{action}]",
                )
            if self.flavor == "es8" and len(obj) > 1:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{line}], expected END_OBJECT but found [FIELD_NAME]",
                )
            op = self._build_op(action, meta, line, default_index, allowed_meta)
            if action != "delete":
                nl = data.find(b"\n", pos)
                if nl == -1:
                    if pos != size:
                        raise terminated
                    break  # an action without its source line at the very end is dropped, as in Elasticsearch
                op.source_raw = data[pos:nl].removesuffix(b"\r")
                pos = nl + 1
                line += 1
                if action == "update":
                    op.update = self._parse_update_body(op.source_raw)
            ops.append(op)
        return ops

    def _build_op(
        self, action: str, meta: dict[str, Any], line: int, default_index: str | None, allowed: frozenset[str]
    ) -> _BulkOp:
        op = _BulkOp(line=line, action=action, index=default_index, id=None)
        for key, value in meta.items():
            if value is None:
                continue
            if isinstance(value, list) or (isinstance(value, dict) and key not in ("_source", "dynamic_templates")):
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{line}], expected a simple value for field [{key}] but found "
                    f"[{_token(value)}]",
                )
            if key not in allowed:
                raise _ApiError(
                    400,
                    "illegal_argument_exception",
                    f"Action/metadata line [{line}] contains an unknown parameter [{key}]",
                )
            if key == "_index":
                op.index = _text(value)
            elif key == "_id":
                op.id = _text(value)
            elif key == "_type":
                op.type = _text(value)
            elif key == "routing":
                op.routing = _text(value)
            elif key == "op_type":
                op.op_type = _text(value)
                if op.op_type not in ("create", "index"):
                    raise _ApiError(
                        400, "illegal_argument_exception", f"opType must be 'create' or 'index', found: [{op.op_type}]"
                    )
            elif key == "version":
                op.version = int(value)
            elif key == "version_type":
                op.version_type = _text(value)
                if op.version_type not in ("internal", "external", "external_gte"):
                    raise _ApiError(400, "illegal_argument_exception", f"No version type match [{op.version_type}]")
            elif key == "if_seq_no":
                op.if_seq_no = int(value)
            elif key == "if_primary_term":
                op.if_primary_term = int(value)
            elif key == "require_alias":
                op.require_alias = _parse_bool(value)
        if action == "update" and (op.version is not None or op.version_type != "internal"):
            raise _ApiError(
                400,
                "illegal_argument_exception",
                "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead",
            )
        return op

    def _parse_update_body(self, raw: bytes) -> dict[str, Any]:
        try:
            obj = _strict_loads(raw)
        except (ValueError, RecursionError) as exc:
            raise self._parse_error(exc) from exc
        if not isinstance(obj, dict):
            raise _ApiError(
                400, "x_content_parse_exception", f"[1:1] [UpdateRequest] Expected START_OBJECT but was: {_token(obj)}"
            )
        for key in obj:
            if key not in _UPDATE_BODY_FIELDS:
                raise _ApiError(400, "x_content_parse_exception", f"[1:2] [UpdateRequest] unknown field [{key}]")
        if "doc" in obj and not isinstance(obj["doc"], dict):
            raise _ApiError(400, "x_content_parse_exception", "[1:9] [UpdateRequest] failed to parse field [doc]")
        return obj

    def _validate_bulk(self, ops: list[_BulkOp]) -> None:
        """Request-level validation: any failure rejects the whole bulk with one 400, as in Elasticsearch."""
        problems: list[str] = []
        if not ops:
            problems.append("no requests added")
        for op in ops:
            if not op.index:
                problems.append("index is missing")
            if op.action in ("update", "delete") and op.id is None:
                problems.append("id is missing")
            if op.id is not None:
                if op.id == "":
                    problems.append("if _id is specified it must not be empty")
                elif len(op.id.encode()) > 512:
                    problems.append(
                        f"id [{op.id}] is too long, must be no longer than 512 bytes but was: {len(op.id.encode())}"
                    )
            if op.action in ("index", "create", "delete") and op.version is not None and op.version_type == "internal":
                problems.append(
                    "internal versioning can not be used for optimistic concurrency control. "
                    "Please use `if_seq_no` and `if_primary_term` instead"
                )
            if op.action == "update" and op.update is not None and "doc" not in op.update and "script" not in op.update:
                problems.append("script or doc is missing")
        if problems:
            reason = "Validation Failed: " + "".join(f"{i}: {p};" for i, p in enumerate(problems, 1))
            raise _ApiError(400, "action_request_validation_exception", reason)

    def _should_reject(self) -> bool:
        if self._reject_next > 0:
            self._reject_next -= 1
            return True
        return self.reject_ratio_429 > 0 and self._reject_rng.random() < self.reject_ratio_429

    def _execute(self, op: _BulkOp, url_require_alias: bool, forced_refresh: bool) -> tuple[str, dict[str, Any]]:
        kind = "create" if op.action == "create" or (op.action == "index" and op.op_type == "create") else op.action
        name = _resolve_date_math(op.index or "", self._now())
        base: dict[str, Any] = {"_index": name}
        if self.flavor == "es7":
            base["_type"] = op.type or "_doc"
        base["_id"] = op.id

        def fail(status: int, error: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            return kind, {**base, "status": status, "error": error}

        bad = _invalid_index_name(name)
        if bad:
            return fail(
                400,
                {
                    "type": "invalid_index_name_exception",
                    "reason": f"Invalid index name [{name}], {bad}",
                    "index_uuid": "_na_",
                    "index": name,
                },
            )
        require_alias = op.require_alias if op.require_alias is not None else url_require_alias
        if require_alias and name not in self._aliases:
            return fail(
                404,
                {
                    "type": "index_not_found_exception",
                    "reason": f"no such index [{name}] and [require_alias] request flag is [true] and [{name}] is "
                    "not an alias",
                    "resource.type": "index_expression",
                    "resource.id": name,
                    "index_uuid": "_na_",
                    "index": name,
                },
            )
        try:
            idx, is_data_stream = self._resolve_write(name, kind)
        except _ItemError as exc:
            return fail(exc.status, exc.error)
        base["_index"] = idx.name
        if op.id is None:
            op.id = self._new_id()
            base["_id"] = op.id
        if self._should_reject():
            return fail(429, {"type": "es_rejected_execution_exception", "reason": self._rejection_reason(idx.name)})
        if kind in ("index", "create"):
            return self._write(op, kind, idx, is_data_stream, base, forced_refresh)
        if kind == "delete":
            return self._delete(op, idx, base, forced_refresh)
        return self._update(op, idx, base, forced_refresh)

    def _resolve_write(self, name: str, kind: str) -> tuple[_Index, bool]:
        if name in self._aliases:
            members = self._aliases[name]
            writers = [i for i, w in members.items() if w] or (list(members) if len(members) == 1 else [])
            if not writers:
                raise _ItemError(
                    400,
                    {
                        "type": "illegal_argument_exception",
                        "reason": f"no write index is defined for alias [{name}]. The write index may be explicitly "
                        "disabled using is_write_index=false or the alias points to multiple indices without one "
                        "being designated as a write index",
                    },
                )
            name = writers[0]
        ds = self._data_streams.get(name)
        if ds is None and name not in self._indices and kind != "delete":
            tname, tmpl = self._best_template(name)
            if tmpl is not None and "data_stream" in tmpl:
                ds = self._create_data_stream(name, template=tname)
        if ds is not None:
            if kind != "create":
                raise _ItemError(
                    400,
                    {
                        "type": "illegal_argument_exception",
                        "reason": "only write ops with an op_type of create are allowed in data streams",
                    },
                )
            return self._indices[ds.indices[-1]], True
        idx = self._indices.get(name)
        if idx is None:
            if kind == "delete":
                raise _ItemError(404, self._index_not_found_body(name))
            idx = self._create_index(name)
        return idx, False

    def _item_ok(
        self,
        base: dict[str, Any],
        version: int,
        result: str,
        seq_no: int,
        status: int,
        forced_refresh: bool,
        shards_total: int = 2,
    ) -> dict[str, Any]:
        item = {k: base[k] for k in ("_index", "_type", "_id") if k in base}
        item.update({"_version": version, "result": result})
        if forced_refresh and result != "noop":
            item["forced_refresh"] = True
        successful = 1 if shards_total else 0
        item.update(
            {
                "_shards": {"total": shards_total, "successful": successful, "failed": 0},
                "_seq_no": seq_no,
                "_primary_term": 1,
                "status": status,
            }
        )
        return item

    def _render_reject(self, rej: _DocReject, raw_line: str) -> dict[str, Any]:
        es8 = self.flavor == "es8"
        etype = rej.etype or ("document_parsing_exception" if es8 else "mapper_parsing_exception")
        reason = rej.reason
        if es8:
            if rej.failed_to_parse and rej.caused_by:
                reason = f"failed to parse: {rej.caused_by['reason']}"
            reason = f"[1:{_column(raw_line, rej.key)}] {reason}"
        error: dict[str, Any] = {"type": etype, "reason": reason}
        if rej.caused_by:
            error["caused_by"] = rej.caused_by
        return error

    def _parse_source(self, raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            raise _DocReject("failed to parse, document is empty")
        try:
            source = _strict_loads(raw)
        except (ValueError, RecursionError) as exc:
            msg, col = _json_error_position(exc)
            raise _DocReject(
                "failed to parse",
                caused_by={"type": "json_parse_exception", "reason": f"{msg} at [line: 1, column: {col}]"},
                failed_to_parse=True,
            ) from exc
        if not isinstance(source, dict):
            raise _DocReject(
                "failed to parse",
                caused_by={"type": "not_x_content_exception", "reason": "Malformed content, must start with an object"},
                failed_to_parse=True,
            )
        return source

    def _apply_mapping(self, idx: _Index, source: dict[str, Any], doc_id: str) -> None:
        _Mapper(idx.mapping, doc_id, type_is_metadata=self.flavor == "es7").apply(source)

    def _check_timestamp(self, source: dict[str, Any]) -> None:
        value = source.get("@timestamp")
        values = [v for v in _flatten(value) if v is not None] if isinstance(value, list) else [value]
        values = [v for v in values if v is not None]
        if len(values) == 1:
            return
        if self.flavor == "opensearch2":
            reason = "documents must contain a single-valued timestamp field '@timestamp' of date type"
        elif values:
            reason = "data stream timestamp field [@timestamp] encountered multiple values"
        else:
            reason = "data stream timestamp field [@timestamp] is missing"
        raise _DocReject(
            "failed to parse",
            caused_by={"type": "illegal_argument_exception", "reason": reason},
            failed_to_parse=True,
        )

    def _version_conflict(self, op: _BulkOp, existing: _Doc | None, idx: _Index) -> dict[str, Any] | None:
        reason = None
        if op.if_seq_no is not None or op.if_primary_term is not None:
            want_seq = op.if_seq_no if op.if_seq_no is not None else -2
            want_term = op.if_primary_term if op.if_primary_term is not None else 0
            if existing is None:
                reason = (
                    f"[{op.id}]: version conflict, required seqNo [{want_seq}], primary term [{want_term}] but no "
                    "document was found"
                )
            elif existing.seq_no != want_seq or want_term != 1:
                reason = (
                    f"[{op.id}]: version conflict, required seqNo [{want_seq}], primary term [{want_term}]. current "
                    f"document has seqNo [{existing.seq_no}] and primary term [1]"
                )
        elif op.version_type in ("external", "external_gte") and existing is not None and op.version is not None:
            if op.version_type == "external" and existing.version >= op.version:
                reason = (
                    f"[{op.id}]: version conflict, current version [{existing.version}] is higher or equal to the "
                    f"one provided [{op.version}]"
                )
            elif op.version_type == "external_gte" and existing.version > op.version:
                reason = (
                    f"[{op.id}]: version conflict, current version [{existing.version}] is higher than the one "
                    f"provided [{op.version}]"
                )
        if reason is None:
            return None
        return {
            "type": "version_conflict_engine_exception",
            "reason": reason,
            "index_uuid": idx.uuid,
            "shard": "0",
            "index": idx.name,
        }

    def _write(
        self, op: _BulkOp, kind: str, idx: _Index, is_data_stream: bool, base: dict[str, Any], forced_refresh: bool
    ) -> tuple[str, dict[str, Any]]:
        raw = op.source_raw or b""
        doc_id = op.id or ""
        try:
            source = self._parse_source(raw)
            # Mapping updates are applied before the engine write, so they survive a later version conflict.
            self._apply_mapping(idx, source, doc_id)
            if is_data_stream:
                self._check_timestamp(source)
        except _DocReject as rej:
            return kind, {**base, "status": 400, "error": self._render_reject(rej, raw.decode("utf-8", "replace"))}
        existing = idx.docs.get(doc_id)
        conflict = self._version_conflict(op, existing, idx)
        if conflict is None and kind == "create" and existing is not None:
            conflict = {
                "type": "version_conflict_engine_exception",
                "reason": f"[{doc_id}]: version conflict, document already exists (current version "
                f"[{existing.version}])",
                "index_uuid": idx.uuid,
                "shard": "0",
                "index": idx.name,
            }
        if conflict is not None:
            return kind, {**base, "status": 409, "error": conflict}
        if op.version_type in ("external", "external_gte") and op.version is not None:
            version = op.version
        else:
            version = existing.version + 1 if existing else 1
        seq_no = idx.next_seq_no
        idx.next_seq_no += 1
        idx.docs[doc_id] = _Doc(source=source, version=version, seq_no=seq_no, routing=op.routing)
        if existing is not None:
            return kind, self._item_ok(base, version, "updated", seq_no, 200, forced_refresh)
        return kind, self._item_ok(base, version, "created", seq_no, 201, forced_refresh)

    def _delete(
        self, op: _BulkOp, idx: _Index, base: dict[str, Any], forced_refresh: bool
    ) -> tuple[str, dict[str, Any]]:
        doc_id = op.id or ""
        existing = idx.docs.get(doc_id)
        conflict = self._version_conflict(op, existing, idx)
        if conflict is not None:
            return "delete", {**base, "status": 409, "error": conflict}
        seq_no = idx.next_seq_no
        idx.next_seq_no += 1
        if existing is None:
            return "delete", self._item_ok(base, 1, "not_found", seq_no, 404, forced_refresh)
        del idx.docs[doc_id]
        idx.deleted += 1
        return "delete", self._item_ok(base, existing.version + 1, "deleted", seq_no, 200, forced_refresh)

    def _update(
        self, op: _BulkOp, idx: _Index, base: dict[str, Any], forced_refresh: bool
    ) -> tuple[str, dict[str, Any]]:
        doc_id = op.id or ""
        body = op.update or {}
        if body.get("script") is not None:
            return "update", {
                **base,
                "status": 400,
                "error": {
                    "type": "illegal_argument_exception",
                    "reason": "EsDouble does not run scripts: update with [script] is not implemented by this double",
                },
            }
        existing = idx.docs.get(doc_id)
        if existing is None:
            if body.get("doc_as_upsert") and isinstance(body.get("doc"), dict):
                new_source = copy.deepcopy(body["doc"])
            elif isinstance(body.get("upsert"), dict):
                new_source = copy.deepcopy(body["upsert"])
            else:
                return "update", {
                    **base,
                    "status": 404,
                    "error": {
                        "type": "document_missing_exception",
                        "reason": f"[{doc_id}]: document missing",
                        "index_uuid": idx.uuid,
                        "shard": "0",
                        "index": idx.name,
                    },
                }
        else:
            conflict = self._version_conflict(op, existing, idx)
            if conflict is not None:
                return "update", {**base, "status": 409, "error": conflict}
            new_source = _deep_merge(copy.deepcopy(existing.source), body.get("doc") or {})
            if body.get("detect_noop", True) is not False and new_source == existing.source:
                return "update", self._item_ok(
                    base, existing.version, "noop", existing.seq_no, 200, forced_refresh, shards_total=0
                )
        try:
            self._apply_mapping(idx, new_source, doc_id)
        except _DocReject as rej:
            return "update", {**base, "status": 400, "error": self._render_reject(rej, json.dumps(new_source))}
        version = existing.version + 1 if existing else 1
        seq_no = idx.next_seq_no
        idx.next_seq_no += 1
        idx.docs[doc_id] = _Doc(source=new_source, version=version, seq_no=seq_no, routing=op.routing)
        if existing is None:
            return "update", self._item_ok(base, version, "created", seq_no, 201, forced_refresh)
        return "update", self._item_ok(base, version, "updated", seq_no, 200, forced_refresh)


class _MethodNotAllowed(Exception):
    def __init__(self, path: str, method: str, allowed: Iterable[str]) -> None:
        super().__init__(path)
        self.path = path
        self.method = method
        self.allowed = tuple(allowed)
