"""ClickHouse output: ``INSERT ... FORMAT JSONEachRow`` over the HTTP interface.

Two shapes. ``schema: logs`` (default) maps each record to a fixed log table
(time, namespace, pod, container, stream, level, message, attributes), which
it can create at start; ``schema: raw`` sends documents as they are to a table
the user made, ignoring fields it lacks.

An insert is atomic: one unparseable row fails its whole request. Such a
request is bisected until the bad rows are alone, and those are dead-lettered
with ClickHouse's message; everything else is retried by the engine. Works
with the HTTP interface of ClickHouse 18.16 (Debian 12's package) onwards;
DateTime64 nanosecond times and LowCardinality columns from 20.1, and retry
deduplication tokens from 22.2.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any

import orjson

from podlog.config.options import Option
from podlog.outputs._base import Chunk, Output, Result, Status
from podlog.outputs._http import Auth, HttpClient, HttpError, Tls, split_docs

__all__ = ["ClickHouseOutput", "to_row"]

log = logging.getLogger("podlog.output.clickhouse")

_CODE = re.compile(r"Code: (\d+)")
# Errors about the data itself (parsing, types, sizes): retrying the same rows cannot help.
_DATA_ERRORS = frozenset({6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 131, 321})
_UNKNOWN_TABLE = 60
_K8S_FIELDS = {"namespace_name": "namespace", "pod_name": "pod", "container_name": "container"}


def _time_text(value: Any, nanos: bool) -> str:
    """A record time as ClickHouse's ``YYYY-MM-DD hh:mm:ss[.fffffffff]`` in UTC (now if absent)."""
    if isinstance(value, str) and len(value) >= 19 and value[10] in "Tt " and value.endswith(("Z", "z")):
        head, frac = value[:19].replace("T", " ").replace("t", " "), value[19:-1]
        if not nanos:
            return head
        digits = frac[1:] if frac.startswith(".") else ""
        return f"{head}.{(digits + '000000000')[:9]}"
    when: dt.datetime | None = None
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(re.sub(r"(\.\d{1,6})\d*", r"\1", value.strip()))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        when = dt.datetime.fromtimestamp(value / 1e9 if value > 1e14 else value, dt.timezone.utc)
    if when is None:
        when = dt.datetime.now(dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S") + (f".{when.microsecond:06d}000" if nanos else "")


def to_row(record: dict[str, Any], *, nanos: bool, time_key: str, message_keys: list[str],
           level_keys: list[str]) -> dict[str, Any]:
    """Map a record to the log schema; whatever has no column goes to ``attributes`` as JSON."""
    rest = dict(record)
    row: dict[str, Any] = {"time": _time_text(rest.pop(time_key, None), nanos)}
    k8s = rest.get("kubernetes")
    if isinstance(k8s, dict):
        k8s = dict(k8s)
        for key, column in _K8S_FIELDS.items():
            row[column] = str(k8s.pop(key, "") or "")
        if k8s:
            rest["kubernetes"] = k8s
        else:
            del rest["kubernetes"]
    else:
        row.update(namespace="", pod="", container="")
    row["stream"] = str(rest.pop("stream", "") or "")
    row["level"] = next((str(rest.pop(k)) for k in level_keys if k in rest), "")
    message = next((rest.pop(k) for k in message_keys if k in rest), "")
    row["message"] = message if isinstance(message, str) else orjson.dumps(message).decode()
    row["attributes"] = orjson.dumps(rest, default=str).decode() if rest else "{}"
    return row


class ClickHouseOutput(Output):
    """Batches records into ClickHouse tables over HTTP (gzip, keep-alive)."""

    name = "clickhouse"

    class Options(Output.Options):
        url = Option("str", "http://127.0.0.1:8123", doc="HTTP interface URL(s), comma-separated for failover.",
                     aliases=("endpoint",))
        database = Option("str", "default", doc="Database of the table.")
        table = Option("str", "logs", doc="Table to insert into.")
        schema = Option("str", "logs", doc="logs: map records to the log schema; raw: insert documents as they are "
                        "(unknown fields ignored).", choices=("logs", "raw"))
        create_table = Option("bool", False, doc="Create the log-schema table at start if missing (schema: logs).")
        ttl = Option("str", "", doc="Table TTL when creating it, e.g. '30 DAY' (ClickHouse 19.6+).")
        user = Option("str", "", doc="User (sent as basic auth, never in the URL).", aliases=("username",))
        password = Option("str", "", doc="Password.")
        password_file = Option("str", "", doc="File holding the password (a mounted Secret).")
        ssl_verify = Option("bool", True, doc="Verify the server certificate (https).")
        ca_file = Option("str", "", doc="CA bundle for https.")
        client_cert = Option("str", "", doc="Client certificate for mutual TLS.")
        client_key = Option("str", "", doc="Client key.")
        gzip = Option("bool", True, doc="Gzip request bodies.", aliases=("compress",))
        request_timeout = Option("duration", 30.0, doc="Time allowed for one insert.", min=0.001)
        max_request_bytes = Option("size", 16 * 1024 * 1024, doc="Largest insert body; chunks are split to fit.",
                                   min=1)
        max_request_rows = Option("int", 100000, doc="Most rows per insert.", min=1)
        settings = Option("dict", {}, doc="Extra query settings, e.g. {async_insert: 1}.")
        time_key = Option("str", "@timestamp", doc="Record field holding the time (schema: logs).")
        message_keys = Option("list", ["message", "log", "msg"], doc="First field found becomes message.")
        level_keys = Option("list", ["level", "severity", "lvl", "levelname"], doc="First field found becomes level.")
        deduplicate = Option("bool", True, doc="Send insert_deduplication_token (ClickHouse 22.2+) so a retried "
                             "insert is not stored twice where the table deduplicates.")

    options: Options

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        self.client: HttpClient | None = None
        self.version: tuple[int, ...] = ()
        self._ready = False
        self._ready_lock = threading.Lock()

    @property
    def target(self) -> str:
        return f"`{self.options.database}`.`{self.options.table}`"

    @property
    def nanos(self) -> bool:
        return self.version >= (20, 1)

    def start(self) -> None:
        o = self.options
        auth = Auth(user=o.user, password=o.password, password_file=o.password_file)
        tls = Tls(verify=o.ssl_verify, ca_file=o.ca_file, client_cert=o.client_cert, client_key=o.client_key)
        urls = [u.strip() for u in o.url.split(",") if u.strip()]
        self.client = HttpClient(urls, auth=auth, tls=tls, timeout=o.request_timeout)
        try:
            self._ensure_ready()
        except HttpError as exc:
            log.warning("clickhouse not ready yet: %s", exc)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()

    # --- queries -------------------------------------------------------------------------------

    def _query(self, sql: str, body: bytes | None = None, settings: dict[str, Any] | None = None) -> tuple[int, str]:
        assert self.client is not None
        params = {"query": sql, **{k: str(v) for k, v in (settings or {}).items()}}
        gzip_level = 1 if body is not None and self.options.gzip else 0
        if gzip_level:
            params["enable_http_compression"] = "1"
        resp = self.client.request("POST", "/?" + urllib.parse.urlencode(params), body, gzip_level=gzip_level)
        return resp.status, resp.data.decode("utf-8", "replace").strip()

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            status, text = self._query("SELECT version()")
            if status != 200:
                raise HttpError(f"SELECT version(): HTTP {status}: {text[:300]}")
            self.version = tuple(int(p) for p in text.split(".")[:3] if p.isdigit())
            if self.options.create_table and self.options.schema == "logs":
                status, text = self._query(self.create_sql())
                if status != 200:
                    raise HttpError(f"creating {self.target}: HTTP {status}: {text[:300]}")
            log.info("clickhouse output ready: ClickHouse %s, table %s", text if not self.version else
                     ".".join(map(str, self.version)), self.target)
            self._ready = True

    def create_sql(self) -> str:
        """The log table for this server version: types it lacks are replaced by older equivalents."""
        modern = self.version >= (20, 1)
        low = "LowCardinality(String)" if modern else "String"
        time_type = "DateTime64(9, 'UTC')" if modern else "DateTime('UTC')"
        ttl = f" TTL toDateTime(time) + INTERVAL {self.options.ttl}" if self.options.ttl else ""
        return (f"CREATE TABLE IF NOT EXISTS {self.target} (time {time_type}, namespace {low}, pod {low}, "
                f"container {low}, stream {low}, level {low}, message String, attributes String) "
                f"ENGINE = MergeTree() PARTITION BY toDate(time) ORDER BY (namespace, pod, time){ttl}")

    # --- write ---------------------------------------------------------------------------------

    def _rows(self, docs: list[bytes]) -> list[bytes]:
        if self.options.schema == "raw":
            return docs
        o = self.options
        rows = []
        for doc in docs:
            try:
                record = orjson.loads(doc)
            except orjson.JSONDecodeError:
                record = {"message": doc.decode("utf-8", "replace")}
            if not isinstance(record, dict):
                record = {"message": record}
            rows.append(orjson.dumps(to_row(record, nanos=self.nanos, time_key=o.time_key,
                                            message_keys=o.message_keys, level_keys=o.level_keys)))
        return rows

    def write(self, chunk: Chunk) -> Result:
        try:
            self._ensure_ready()
        except HttpError as exc:
            return Result.retry(str(exc))
        docs = chunk.docs()
        rows = self._rows(docs)  # aligned with docs: a row's position names its document
        groups = split_docs(rows, self.options.max_request_bytes, self.options.max_request_rows)
        rejected: list[tuple[bytes, str]] = []
        for n, group in enumerate(groups):
            error, left = self._insert(docs, rows, group, rejected)
            if error:  # refusals are final (dead-lettered now); the rest is retried, and only it
                return Result.partial(error, left + [i for g in groups[n + 1:] for i in g], rejected)
        if rejected:
            log.warning("clickhouse refused %d rows: %s", len(rejected), rejected[0][1])
        return Result(Status.DELIVERED, rejected=rejected)

    def _insert(
        self, docs: list[bytes], rows: list[bytes], group: Sequence[int], rejected: list[tuple[bytes, str]]
    ) -> tuple[str, list[int]]:
        """Insert the rows at ``group``, bisecting around bad data; returns a retry reason ('' when done)
        and the positions left."""
        settings: dict[str, Any] = {"input_format_skip_unknown_fields": 1, **self.options.settings}
        body = b"\n".join([rows[i] for i in group]) + b"\n"
        if self.options.deduplicate and self.version >= (22, 2):
            settings["insert_deduplication_token"] = hashlib.blake2b(body, digest_size=16).hexdigest()
        try:
            status, text = self._query(f"INSERT INTO {self.target} FORMAT JSONEachRow", body, settings)
        except HttpError as exc:
            return str(exc), list(group)
        if status == 200:
            return "", []
        match = _CODE.search(text)
        code = int(match.group(1)) if match else 0
        if code in _DATA_ERRORS:
            if len(group) == 1:
                rejected.append((docs[group[0]], f"ClickHouse: {text[:400]}"))
                return "", []
            half = len(group) // 2
            error, left = self._insert(docs, rows, group[:half], rejected)
            if error:
                return error, left + list(group[half:])
            return self._insert(docs, rows, group[half:], rejected)
        if code == _UNKNOWN_TABLE and self.options.create_table:
            self._ready = False  # dropped under us: create it again before the next attempt
        return f"insert into {self.target}: HTTP {status}: {text[:300]}", list(group)
