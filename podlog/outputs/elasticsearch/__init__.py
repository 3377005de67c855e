"""Elasticsearch / OpenSearch output: bulk API, per-item outcomes, idempotent ids.

The guarantee: every document is either indexed exactly once or handed to
the dead-letter store with the server's reason. Exactly once rests on
deterministic ``_id`` values sent with ``create``: a retry, or a re-read after
a crash, meets 409 for what is already there and counts it as delivered.
Within one chunk only the items still failing are re-sent on retry (``write``
names them in its result's ``remaining`` and the runner narrows the chunk to
them), so a 429 on 10% of items costs 10% more traffic.

Modules: ``options`` (declared options, connection settings), ``index``
(index names and ids), ``bulk`` (request bodies and response items),
``setup`` (version detection, templates, lifecycle policies).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from podlog.batch import Batch
from podlog.document import leading_timestamp
from podlog.outputs._base import Chunk, Output, Result, Status
from podlog.outputs._http import HttpClient, HttpError, Unavailable
from podlog.outputs.elasticsearch import setup
from podlog.outputs.elasticsearch.bulk import FILTER_PATH, Item, Outcome, action_line, classify, plan, with_tag
from podlog.outputs.elasticsearch.index import IndexNamer, decode, doc_id, lookup
from podlog.outputs.elasticsearch.options import EsOptions, auth_of, compression_of, tls_of, urls_of

if TYPE_CHECKING:
    from podlog.config.fluentd_plugin import FluentdSection
    from podlog.config.yaml_loader import LineDict

__all__ = ["ElasticsearchOutput"]

log = logging.getLogger("podlog.output.elasticsearch")

class ElasticsearchOutput(Output):
    """Bulk-indexes documents into Elasticsearch 7/8 or OpenSearch 1/2 (data streams too)."""

    name = "elasticsearch"
    aliases = ("opensearch", "elasticsearch_data_stream", "es")

    class Options(Output.Options, EsOptions):
        pass

    options: Options

    @classmethod
    def fluentd(cls, options: LineDict, section: FluentdSection) -> None:
        """``@type elasticsearch_data_stream`` is this output writing to the data stream it names."""
        if section.type == "elasticsearch_data_stream" and "data_stream_name" not in options:
            raise section.error(f"{section.tag}: @type elasticsearch_data_stream needs data_stream_name")

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        o = self.options
        self.urls = urls_of(o)
        self.gzip_level = compression_of(o)
        self.namer = IndexNamer(
            index_name=o.index_name, logstash_format=o.logstash_format, logstash_prefix=o.logstash_prefix,
            logstash_prefix_separator=o.logstash_prefix_separator, logstash_dateformat=o.logstash_dateformat,
            data_stream_name=o.data_stream_name, target_index_key=o.target_index_key, time_key=o.time_key,
            utc_index=o.utc_index)
        self.data_stream = bool(o.data_stream_name)
        self.derive_ids = o.idempotent != "false" and not o.id_key
        self.default_create = self.data_stream or o.write_operation == "create"
        self.client: HttpClient | None = None
        self.server: setup.Server | None = None
        self._ready = False
        self._ready_lock = threading.Lock()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        if o.type_name:
            log.info("type_name %r is ignored: Elasticsearch 7+ and OpenSearch have no mapping types", o.type_name)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.start_client_only()
        try:
            self._ensure_ready()
        except HttpError as exc:  # the cluster may come up later; write() keeps trying
            log.warning("elasticsearch not ready yet: %s", exc)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()

    def stats(self) -> dict[str, int]:
        """Items by outcome class (indexed, duplicate, retry_<type>, rejected_<type>) since start."""
        with self._lock:
            return dict(self.counts)

    def _ensure_ready(self) -> None:
        """Detect the server and install template and policy once; raises HttpError until it worked."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            o = self.options
            client = self._client()
            if o.verify_es_version_at_startup:
                self.server = setup.detect(client)
            else:
                self.server = setup.Server("elasticsearch", (o.default_elasticsearch_version,))
            if o.ilm_policy_id and (o.enable_ilm or o.ilm_policy_id):
                setup.install_policy(client, self.server, o.ilm_policy_id, o.ilm_policy,
                                     overwrite=o.ilm_policy_overwrite)
            if o.template_name and o.template_file:
                setup.install_template(client, self.server, o.template_name, o.template_file,
                                       legacy=o.use_legacy_template, overwrite=o.template_overwrite)
            log.info("elasticsearch output ready: %s at %s", self.server.label, ", ".join(client.urls))
            self._ready = True

    def _client(self) -> HttpClient:
        if self.client is None:
            self.start_client_only()
        assert self.client is not None
        return self.client

    def start_client_only(self) -> None:
        """Build the HTTP client without contacting the server (tests, benchmarks)."""
        o = self.options
        self.client = HttpClient(self.urls, auth=auth_of(o), tls=tls_of(o), timeout=o.request_timeout,
                                 headers=o.headers)

    # --- write ---------------------------------------------------------------------------------

    def write(self, chunk: Chunk) -> Result:
        try:
            self._ensure_ready()
        except HttpError as exc:
            return Result.retry(str(exc))
        items: list[Item] = []
        rejected: list[tuple[bytes, str]] = []  # refused before sending (a data stream's doc without time)
        for batch, positions in chunk.parts():
            self._prepare(batch, positions, items, rejected)
        outcome = Outcome()
        requests = list(plan(items, self.options.bulk_message_request_threshold,
                             max(1, self.options.bulk_max_documents)))
        for n, request in enumerate(requests):
            result, halt = self._send(request)
            outcome.merge(result)
            if halt:  # the cluster is overloaded or gone: keep the rest for the next attempt
                for later in requests[n + 1:]:
                    outcome.retry_all(later, result.retry_reason, "retry_not_sent")
                break
        with self._lock:
            self.counts.update(outcome.counts)
        rejected += outcome.rejected  # final: the runner dead-letters them at once
        if outcome.rejected:
            log.warning("elasticsearch refused %d documents: %s", len(outcome.rejected), outcome.rejected[0][1])
        if outcome.retry:
            reason = f"{len(outcome.retry)} of {len(chunk)} documents to retry: {outcome.retry_reason}"
            return Result.partial(reason, [item.pos for item in outcome.retry], rejected)
        return Result(Status.DELIVERED, rejected=rejected)

    def _send(self, request: list[Item]) -> tuple[Outcome, bool]:
        """POST one bulk request; returns its outcome and whether to stop sending this chunk for now."""
        out = Outcome()
        body = b"".join(item.lines for item in request)
        try:
            resp = self._client().request(
                "POST", "/_bulk?filter_path=" + FILTER_PATH, body,
                {"Content-Type": "application/x-ndjson", "Accept": "application/json"}, self.gzip_level)
        except Unavailable as exc:
            out.retry_all(request, str(exc), "retry_unavailable")
            return out, True
        except HttpError as exc:
            out.retry_all(request, str(exc), "retry_error")
            return out, True
        status = resp.status
        if status == 200:
            try:
                parsed = orjson.loads(resp.data)
            except orjson.JSONDecodeError:
                out.retry_all(request, "bulk response is not JSON", "retry_bad_response")
                return out, True
            return classify(request, parsed if isinstance(parsed, dict) else {}), False
        if status in (400, 413) and len(request) > 1:
            # One document spoiled the whole request (too large, or unparseable): bisect to find it.
            half = len(request) // 2
            first, halt = self._send(request[:half])
            if not halt:
                second, halt = self._send(request[half:])
                first.merge(second)
            else:
                first.retry_all(request[half:], first.retry_reason, "retry_not_sent")
            return first, halt
        if status in (400, 413):
            reason = f"{status} {_error_text(resp.data)}"
            out.rejected.append((request[0].doc, reason))
            out.counts[f"rejected_{status}"] += 1
            return out, False
        hint = ": check the credentials" if status in (401, 403) else ""
        out.retry_all(request, f"bulk request answered HTTP {status}{hint} ({_error_text(resp.data)})",
                      f"retry_{status}")
        return out, True

    # --- items ---------------------------------------------------------------------------------

    def _prepare(self, batch: Batch, positions: Sequence[int], items: list[Item],
                 rejected: list[tuple[bytes, str]]) -> None:
        """The bulk items of the documents at ``positions`` in ``batch`` (those still to deliver)."""
        o = self.options
        docs = batch.docs
        offsets = batch.offsets if batch.offsets is not None and len(batch.offsets) == len(docs) else None
        derive = self.derive_ids and batch.origin is not None and offsets is not None
        for i in positions:
            doc = docs[i]
            pos = len(items) + len(rejected)  # both grow one per document, in the order of chunk.docs()
            cache: list[dict[str, Any]] = []

            def record(doc: bytes = doc, cache: list[dict[str, Any]] = cache) -> dict[str, Any]:
                if not cache:
                    cache.append(decode(doc))
                return cache[0]

            ts = leading_timestamp(doc)
            if self.data_stream and ts is None and "@timestamp" not in record():
                rejected.append((doc, "data streams need @timestamp; the document has none"))
                with self._lock:
                    self.counts["rejected_no_timestamp"] += 1
                continue
            create = self.default_create
            _id: str | None = None
            if o.id_key:
                value = lookup(record(), o.id_key)
                _id = None if value is None else str(value)
            elif derive:
                assert offsets is not None and batch.origin is not None
                _id = doc_id(batch.origin, offsets[i], ts)
                create = True
            body = with_tag(doc, o.tag_key, batch.tag) if o.include_tag_key else doc
            index = self.namer.name(batch.tag, doc, record)
            op = "create" if create else "index"
            items.append(Item(doc, action_line(op, index, _id) + b"\n" + body + b"\n", create and _id is not None, pos))


def _error_text(data: bytes) -> str:
    """The server's error type and reason from an error body, short."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data[:200].decode("utf-8", "replace")
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:300]
    return str(error or parsed)[:300]
