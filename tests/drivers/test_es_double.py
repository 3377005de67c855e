"""Pin the behaviour of the Elasticsearch / OpenSearch protocol double.

The double stands in for a cluster in podlog's delivery tests, so a change to what it answers is a
change to what those tests prove.  Every test talks to it over a real socket with ``http.client``, as a
shipper would, and checks the wire-level answer rather than the double's internals.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import time
from typing import Any

import pytest

from .es_double import FLAVORS, EsDouble

NDJSON = {"Content-Type": "application/x-ndjson"}


def call(
    es: EsDouble, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPResponse, Any]:
    """One request on a fresh connection; returns (status, response, parsed JSON body or raw bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", es.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return resp.status, resp, parsed


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def bulk(es: EsDouble, *lines: dict[str, Any], path: str = "/_bulk", **kw: Any) -> tuple[int, Any]:
    status, _, body = call(es, "POST", path, ndjson(*lines), {**NDJSON, **kw.get("headers", {})})
    return status, body


def statuses(body: dict[str, Any]) -> list[int]:
    return [next(iter(item.values()))["status"] for item in body["items"]]


@pytest.fixture
def es8() -> Any:
    with EsDouble("es8") as es:
        yield es
        assert es.internal_errors == []


@pytest.fixture
def es7() -> Any:
    with EsDouble("es7") as es:
        yield es
        assert es.internal_errors == []


# ------------------------------------------------------------------------------------------ root info


@pytest.mark.parametrize("flavor", FLAVORS)
def test_root_info_per_flavor(flavor: str) -> None:
    with EsDouble(flavor, cluster_name="c1") as es:
        status, resp, body = call(es, "GET", "/")
        assert status == 200
        assert body["cluster_name"] == "c1"
        version = body["version"]
        if flavor == "opensearch2":
            assert version["distribution"] == "opensearch"
            assert version["number"].startswith("2.")
            assert body["tagline"] == "The OpenSearch Project: https://opensearch.org/"
            assert resp.getheader("X-elastic-product") is None
        else:
            assert "distribution" not in version
            assert version["number"].startswith("7." if flavor == "es7" else "8.")
            assert version["build_flavor"] == "default"
            assert body["tagline"] == "You Know, for Search"
            # elasticsearch-py >= 7.14 refuses servers without this header.
            assert resp.getheader("X-elastic-product") == "Elasticsearch"
        head_status, _, head_body = call(es, "HEAD", "/")
        assert head_status == 200 and head_body is None


def test_version_override_and_path_prefix() -> None:
    with EsDouble("opensearch2", version="2.11.1", path_prefix="/es/") as es:
        assert es.url.endswith("/es")
        assert call(es, "GET", "/es/")[2]["version"]["number"] == "2.11.1"
        assert call(es, "GET", "/")[0] == 404
        status, body = bulk(es, {"index": {"_index": "x"}}, {"a": 1}, path="/es/_bulk")
        assert status == 200 and statuses(body) == [201]


# ------------------------------------------------------------------------------------------ bulk


def test_bulk_item_statuses_and_results(es8: EsDouble) -> None:
    status, body = bulk(
        es8,
        {"index": {"_index": "app", "_id": "1"}},
        {"msg": "one"},
        {"index": {"_index": "app", "_id": "1"}},
        {"msg": "one again"},
        {"create": {"_index": "app", "_id": "2"}},
        {"msg": "two"},
        {"update": {"_index": "app", "_id": "2"}},
        {"doc": {"extra": True}},
        {"update": {"_index": "app", "_id": "nope"}},
        {"doc": {"x": 1}},
        {"delete": {"_index": "app", "_id": "1"}},
        {"delete": {"_index": "app", "_id": "1"}},
        {"index": {"_index": "app"}},
        {"msg": "auto id"},
    )
    assert status == 200
    assert statuses(body) == [201, 200, 201, 200, 404, 200, 404, 201]
    results = [next(iter(i.values())).get("result") for i in body["items"]]
    assert results == ["created", "updated", "created", "updated", None, "deleted", "not_found", "created"]
    assert body["errors"] is True  # the missing-document update is a failure; delete not_found is not
    first = body["items"][1]["index"]
    assert first["_version"] == 2 and first["_primary_term"] == 1 and first["_shards"]["successful"] == 1
    assert body["items"][4]["update"]["error"]["type"] == "document_missing_exception"
    auto_id = body["items"][7]["index"]["_id"]
    assert len(auto_id) == 20
    docs = {d["_id"]: d for d in es8.documents("app")}
    assert set(docs) == {"2", auto_id}
    assert docs["2"] == {"_index": "app", "_id": "2", "msg": "two", "extra": True}
    record = es8.bulk_requests[-1]
    assert record.doc_count == 8 and record.item_statuses == statuses(body)


def test_bulk_default_index_from_url_and_no_errors_flag(es7: EsDouble) -> None:
    status, body = bulk(es7, {"index": {}}, {"a": 1}, {"create": {}}, {"a": 2}, path="/web/_bulk")
    assert status == 200 and body["errors"] is False
    assert all(next(iter(i.values()))["_type"] == "_doc" for i in body["items"])  # 7.x still reports _type
    assert [d["a"] for d in es7.documents("web")] == [1, 2]
    assert es7.indices() == ["web"]


def test_create_conflict_is_409(es8: EsDouble) -> None:
    bulk(es8, {"create": {"_index": "c", "_id": "x"}}, {"n": 1})
    status, body = bulk(es8, {"create": {"_index": "c", "_id": "x"}}, {"n": 2})
    item = body["items"][0]["create"]
    assert status == 200 and body["errors"] is True and item["status"] == 409
    assert item["error"]["type"] == "version_conflict_engine_exception"
    assert item["error"]["reason"] == "[x]: version conflict, document already exists (current version [1])"
    assert es8.get("c", "x") == {"n": 1}


def test_final_newline_is_required(es8: EsDouble) -> None:
    status, _, body = call(es8, "POST", "/_bulk", b'{"index":{"_index":"a"}}\n{"x":1}', NDJSON)
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "The bulk request must be terminated by a newline [\\n]"
    assert es8.documents() == []
    # \r\n line ends are fine.
    status, _, body = call(es8, "POST", "/_bulk", b'{"index":{"_index":"a"}}\r\n{"x":1}\r\n', NDJSON)
    assert status == 200 and statuses(body) == [201]


@pytest.mark.parametrize(
    ("payload", "etype", "reason_part"),
    [
        (b'{"index":{"_index":"a"}\n{"x":1}\n', "x_content_parse_exception", ""),
        (b'"index"\n{"x":1}\n', "illegal_argument_exception", "expected START_OBJECT but found [VALUE_STRING]"),
        (b'{"upsert":{"_index":"a"}}\n{"x":1}\n', "illegal_argument_exception", "but found [upsert]"),
        (b'{"index":{"_index":"a","bogus":1}}\n{"x":1}\n', "illegal_argument_exception", "unknown parameter [bogus]"),
        (b'{"index":{"_index":"a","_type":"t"}}\n{"x":1}\n', "illegal_argument_exception", "unknown parameter [_type]"),
        (b'{"index":{}}\n{"x":1}\n', "action_request_validation_exception", "index is missing"),
        (b"\n", "action_request_validation_exception", "no requests added"),
        (b"", "parse_exception", "request body is required"),
    ],
)
def test_malformed_bulk_rejected_whole(es8: EsDouble, payload: bytes, etype: str, reason_part: str) -> None:
    status, _, body = call(es8, "POST", "/_bulk", payload, NDJSON)
    assert status == 400
    assert body["error"]["type"] == etype and reason_part in body["error"]["reason"]
    assert body["status"] == 400 and body["error"]["root_cause"][0]["type"] == etype


def test_malformed_source_fails_only_its_item(es7: EsDouble) -> None:
    payload = b'{"index":{"_index":"a"}}\n{"x":\n{"index":{"_index":"a"}}\n{"x":1}\n'
    status, _, body = call(es7, "POST", "/_bulk", payload, NDJSON)
    assert status == 200 and statuses(body) == [400, 201]
    error = body["items"][0]["index"]["error"]
    assert error["type"] == "mapper_parsing_exception" and error["caused_by"]["type"] == "json_parse_exception"


def test_unsupported_content_type_and_unknown_param(es8: EsDouble) -> None:
    status, _, body = call(
        es8, "POST", "/_bulk", ndjson({"index": {"_index": "a"}}, {}), {"Content-Type": "text/plain"}
    )
    assert status == 406 and body["error"] == "Content-Type header [text/plain] is not supported"
    status, _, body = call(es8, "POST", "/_bulk?foo=1", ndjson({"index": {"_index": "a"}}, {}), NDJSON)
    assert status == 400 and "unrecognized parameter: [foo]" in body["error"]["reason"]


def test_gzip_request_body(es8: EsDouble) -> None:
    payload = gzip.compress(ndjson({"index": {"_index": "gz"}}, {"msg": "zipped"}))
    status, _, body = call(es8, "POST", "/_bulk", payload, {**NDJSON, "Content-Encoding": "gzip"})
    assert status == 200 and statuses(body) == [201]
    assert es8.documents("gz")[0]["msg"] == "zipped"
    record = es8.requests[-1]
    assert record.gzip and record.raw_body == payload and record.body.endswith(b"\n")
    assert record.headers["content-encoding"] == "gzip"


def test_filter_path(es8: EsDouble) -> None:
    lines = [{"index": {"_index": "f"}}, {"n": 1}, {"index": {"_index": "f"}}, {"n": "x"}]
    status, _, body = call(es8, "POST", "/_bulk?filter_path=errors,items.*.error", ndjson(*lines), NDJSON)
    assert status == 200
    assert body["errors"] is True and len(body["items"]) == 1
    assert list(body["items"][0]["index"]) == ["error"]
    status, _, body = call(es8, "POST", "/_bulk?filter_path=errors,items.*.error", ndjson(*lines[:2]), NDJSON)
    assert body == {"errors": False}


def test_invalid_index_name_and_require_alias(es8: EsDouble) -> None:
    _, body = bulk(
        es8,
        {"index": {"_index": "Upper"}},
        {"a": 1},
        {"index": {"_index": "plain", "require_alias": True}},
        {"a": 1},
    )
    assert statuses(body) == [400, 404]
    assert body["items"][0]["index"]["error"]["reason"] == "Invalid index name [Upper], must be lowercase"
    assert "[require_alias] request flag is [true]" in body["items"][1]["index"]["error"]["reason"]
    es8.add_alias("logs-write", "logs-000001")
    _, body = bulk(es8, {"create": {"_index": "logs-write", "require_alias": True}}, {"a": 1})
    assert statuses(body) == [201] and body["items"][0]["create"]["_index"] == "logs-000001"


# ------------------------------------------------------------------------------------------ mapping


def test_mapping_conflict_and_coercion_es7(es7: EsDouble) -> None:
    _, body = bulk(
        es7,
        {"index": {"_index": "m", "_id": "1"}},
        {"count": 1, "msg": "hello", "ok": True, "ratio": 0.5},
        {"index": {"_index": "m", "_id": "2"}},
        {"count": "12", "msg": 42, "ok": "false", "ratio": "1.5"},  # all coerced
        {"index": {"_index": "m", "_id": "3"}},
        {"count": "abc"},
        {"index": {"_index": "m", "_id": "4"}},
        {"ok": 1},
    )
    assert statuses(body) == [201, 201, 400, 400]
    error = body["items"][2]["index"]["error"]
    assert error["type"] == "mapper_parsing_exception"
    assert error["reason"] == (
        "failed to parse field [count] of type [long] in document with id '3'. Preview of field's value: 'abc'"
    )
    assert error["caused_by"] == {"type": "illegal_argument_exception", "reason": 'For input string: "abc"'}
    assert es7.mapping("m")["properties"]["count"] == {"type": "long"}
    assert es7.mapping("m")["properties"]["ratio"] == {"type": "float"}
    assert es7.mapping("m")["properties"]["msg"]["fields"]["keyword"]["type"] == "keyword"


def test_mapping_conflict_es8_is_document_parsing_exception(es8: EsDouble) -> None:
    bulk(es8, {"index": {"_index": "m"}}, {"pid": 7})
    _, body = bulk(es8, {"index": {"_index": "m", "_id": "z"}}, {"pid": "learner"})
    error = body["items"][0]["index"]["error"]
    assert error["type"] == "document_parsing_exception"
    assert error["reason"].startswith("[1:")
    assert error["reason"].endswith(
        "failed to parse field [pid] of type [long] in document with id 'z'. Preview of field's value: 'learner'"
    )


def test_object_versus_scalar_conflicts(es7: EsDouble) -> None:
    bulk(es7, {"index": {"_index": "o"}}, {"kubernetes": {"labels": {"app": "web"}}, "level": "info"})
    _, body = bulk(
        es7,
        {"index": {"_index": "o"}},
        {"kubernetes": "flat"},
        {"index": {"_index": "o", "_id": "q"}},
        {"level": {"name": "info"}},
        {"index": {"_index": "o"}},
        {"kubernetes.labels.app": "api", "kubernetes.namespace": "prod"},  # dotted keys expand into the object
        {"index": {"_index": "o"}},
        {"level.name": "x"},
    )
    assert statuses(body) == [400, 400, 201, 400]
    assert body["items"][0]["index"]["error"]["reason"] == (
        "object mapping for [kubernetes] tried to parse field [kubernetes] as object, but found a concrete value"
    )
    assert "of type [text] in document with id 'q'" in body["items"][1]["index"]["error"]["reason"]
    assert "Existing mapping for [level] must be of type object" in body["items"][3]["index"]["error"]["reason"]
    props = es7.mapping("o")["properties"]["kubernetes"]["properties"]
    assert set(props) == {"labels", "namespace"}


def test_failed_document_does_not_leave_mapping_behind(es8: EsDouble) -> None:
    bulk(es8, {"index": {"_index": "r"}}, {"n": 1})
    _, body = bulk(es8, {"index": {"_index": "r"}}, {"new_field": "x", "n": "not a number"})
    assert statuses(body) == [400]
    assert "new_field" not in es8.mapping("r")["properties"]


def test_date_detection_then_date_rejection(es8: EsDouble) -> None:
    bulk(es8, {"index": {"_index": "d"}}, {"ts": "2024-05-01T10:00:00.123Z"})
    assert es8.mapping("d")["properties"]["ts"] == {"type": "date"}
    _, body = bulk(es8, {"index": {"_index": "d"}}, {"ts": 1714557600000}, {"index": {"_index": "d"}}, {"ts": "soon"})
    assert statuses(body) == [201, 400]
    assert "failed to parse date field [soon]" in body["items"][1]["index"]["error"]["caused_by"]["reason"]


def test_metadata_field_inside_document(es8: EsDouble) -> None:
    _, body = bulk(es8, {"index": {"_index": "meta"}}, {"_id": "x", "a": 1})
    error = body["items"][0]["index"]["error"]
    assert error["type"] == "document_parsing_exception"
    assert "Field [_id] is a metadata field and cannot be added inside a document" in error["reason"]


def test_template_mappings_and_strict_dynamic(es8: EsDouble) -> None:
    template = {
        "index_patterns": ["strict-*"],
        "template": {"mappings": {"dynamic": "strict", "properties": {"msg": {"type": "keyword"}}}},
    }
    status, _, body = call(
        es8, "PUT", "/_index_template/strict", json.dumps(template).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200 and body == {"acknowledged": True}
    assert es8.templates["strict"] == template
    _, body = bulk(es8, {"index": {"_index": "strict-1"}}, {"msg": 5}, {"index": {"_index": "strict-1"}}, {"other": 1})
    assert statuses(body) == [201, 400]
    assert body["items"][1]["index"]["error"]["type"] == "strict_dynamic_mapping_exception"


# ------------------------------------------------------------------------------------------ data streams


@pytest.mark.parametrize("flavor", ["es7", "es8", "opensearch2"])
def test_data_stream_rules(flavor: str) -> None:
    with EsDouble(flavor) as es:
        es.add_data_stream("podlog-ds")
        _, body = bulk(
            es,
            {"index": {"_index": "podlog-ds"}},
            {"@timestamp": "2024-01-01T00:00:00Z"},
            {"create": {"_index": "podlog-ds"}},
            {"msg": "no time"},
            {"create": {"_index": "podlog-ds"}},
            {"@timestamp": "2024-01-01T00:00:00Z", "msg": "ok"},
            {"index": {"_index": "podlog-ds", "op_type": "create"}},
            {"@timestamp": "2024-01-01T00:00:01Z", "msg": "ok too"},
        )
        assert statuses(body) == [400, 400, 201, 201]
        assert body["items"][0]["index"]["error"] == {
            "type": "illegal_argument_exception",
            "reason": "only write ops with an op_type of create are allowed in data streams",
        }
        missing = body["items"][1]["create"]["error"]
        assert missing["caused_by"]["type"] == "illegal_argument_exception"
        if flavor == "opensearch2":
            assert "single-valued timestamp field '@timestamp'" in missing["caused_by"]["reason"]
        else:
            assert missing["caused_by"]["reason"] == "data stream timestamp field [@timestamp] is missing"
        backing = body["items"][2]["create"]["_index"]
        assert backing.startswith(".ds-podlog-ds-") and backing.endswith("-000001")
        assert [d["msg"] for d in es.documents("podlog-ds")] == ["ok", "ok too"]
        assert es.data_streams() == ["podlog-ds"]


def test_builtin_logs_pattern_makes_data_streams_on_elasticsearch_only() -> None:
    for flavor, expected in (("es8", [400]), ("opensearch2", [201])):
        with EsDouble(flavor) as es:
            _, body = bulk(es, {"index": {"_index": "logs-app-default"}}, {"msg": "x"})
            assert statuses(body) == expected
    with EsDouble("es8") as es:
        # The classic ILM bootstrap index collides with the stock "logs" data-stream template.
        status, _, body = call(
            es,
            "PUT",
            "/logs-app-000001",
            b'{"aliases":{"logs-app":{"is_write_index":true}}}',
            {"Content-Type": "application/json"},
        )
        assert status == 400 and "creates data streams only" in body["error"]["reason"]
        status, _, body = call(
            es,
            "PUT",
            "/podlog-000001",
            b'{"aliases":{"podlog":{"is_write_index":true}}}',
            {"Content-Type": "application/json"},
        )
        assert status == 200
        _, body = bulk(es, {"index": {"_index": "podlog"}}, {"msg": "via alias"})
        assert body["items"][0]["index"]["_index"] == "podlog-000001"
    with EsDouble("es8", data_stream_patterns=()) as es:
        assert statuses(bulk(es, {"index": {"_index": "logs-app-default"}}, {"msg": "x"})[1]) == [201]


# ------------------------------------------------------------------------------------------ faults


def test_429_injection_is_seeded_and_not_stored() -> None:
    def run(seed: int) -> list[int]:
        with EsDouble("es8", seed=seed) as es:
            es.reject_ratio_429 = 0.3
            lines: list[dict[str, Any]] = []
            for i in range(200):
                lines += [{"create": {"_index": "r", "_id": str(i)}}, {"i": i}]
            _, body = bulk(es, *lines)
            codes = statuses(body)
            rejected = [i for i, s in enumerate(codes) if s == 429]
            assert len(es.documents("r")) == 200 - len(rejected)
            error = body["items"][rejected[0]]["create"]["error"]
            assert error["type"] == "es_rejected_execution_exception"
            assert body["errors"] is True
            return rejected

    first, again, other = run(1), run(1), run(2)
    assert first == again and first != other
    assert 30 <= len(first) <= 90


def test_reject_next_items_and_fail_next_requests(es8: EsDouble) -> None:
    es8.reject_next_items(1)
    _, body = bulk(es8, {"index": {"_index": "f"}}, {"a": 1}, {"index": {"_index": "f"}}, {"a": 2})
    assert statuses(body) == [429, 201]
    es8.fail_next_requests(2, status=503)
    assert call(es8, "GET", "/")[0] == 200  # bulk_only by default
    for _ in range(2):
        status, _, body = call(es8, "POST", "/_bulk", ndjson({"index": {"_index": "f"}}, {"a": 3}), NDJSON)
        assert status == 503 and body["error"]["type"] == "cluster_block_exception"
    assert bulk(es8, {"index": {"_index": "f"}}, {"a": 3})[0] == 200
    es8.fail_next_requests(1, status=429)
    status, _, body = call(es8, "POST", "/_bulk", ndjson({"index": {"_index": "f"}}, {"a": 4}), NDJSON)
    assert status == 429 and body["error"]["type"] == "es_rejected_execution_exception"
    assert [d["a"] for d in es8.documents("f")] == [2, 3]


def test_delay(es8: EsDouble) -> None:
    es8.delay = 0.2
    started = time.monotonic()
    assert call(es8, "GET", "/")[0] == 200
    assert time.monotonic() - started >= 0.2


def test_down_refuses_connections_and_up_reuses_port(es8: EsDouble) -> None:
    port = es8.port
    es8.down()
    assert not es8.is_up
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    es8.up()
    assert es8.port == port and call(es8, "GET", "/")[0] == 200


def test_down_cuts_keep_alive_connections(es8: EsDouble) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", es8.port, timeout=5)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        es8.down()
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            conn.request("GET", "/")
            conn.getresponse().read()
    finally:
        conn.close()
        es8.up()


def test_max_content_length_413() -> None:
    with EsDouble("es8", max_content_length=64) as es:
        status, _, _ = call(es, "POST", "/_bulk", ndjson({"index": {"_index": "big"}}, {"m": "x" * 100}), NDJSON)
        assert status == 413


# ------------------------------------------------------------------------------------------ auth


def test_basic_auth_401_and_200() -> None:
    with EsDouble("es8", basic=("elastic", "changeme")) as es:
        status, resp, body = call(es, "POST", "/_bulk", ndjson({"index": {"_index": "s"}}, {"a": 1}), NDJSON)
        assert status == 401
        assert body["error"]["type"] == "security_exception"
        assert body["error"]["reason"] == "missing authentication credentials for REST request [/_bulk]"
        challenges = resp.msg.get_all("WWW-Authenticate")
        assert challenges is not None and 'Basic realm="security" charset="UTF-8"' in challenges
        wrong = "Basic " + base64.b64encode(b"elastic:nope").decode()
        status, _, body = call(es, "GET", "/", headers={"Authorization": wrong})
        assert status == 401 and body["error"]["reason"] == "unable to authenticate user [elastic] for REST request [/]"
        good = "Basic " + base64.b64encode(b"elastic:changeme").decode()
        status, _, body = call(
            es, "POST", "/_bulk", ndjson({"index": {"_index": "s"}}, {"a": 1}), {**NDJSON, "Authorization": good}
        )
        assert status == 200 and statuses(body) == [201]


def test_api_key_and_bearer() -> None:
    with EsDouble("es7", api_key="kid:secret", bearer="tok") as es:
        key = "ApiKey " + base64.b64encode(b"kid:secret").decode()
        assert call(es, "GET", "/", headers={"Authorization": key})[0] == 200
        assert call(es, "GET", "/", headers={"Authorization": "Bearer tok"})[0] == 200
        bad = "ApiKey " + base64.b64encode(b"kid:wrong").decode()
        status, _, body = call(es, "GET", "/", headers={"Authorization": bad})
        assert status == 401 and body["error"]["type"] == "security_exception"


def test_opensearch_security_401_is_plain_text() -> None:
    with EsDouble("opensearch2", basic=("admin", "admin")) as es:
        status, resp, body = call(es, "GET", "/")
        assert status == 401 and body == b"Unauthorized"
        assert resp.getheader("WWW-Authenticate") == 'Basic realm="OpenSearch Security"'
    with pytest.raises(ValueError):
        EsDouble("opensearch2", api_key="a:b", start=False)


# ------------------------------------------------------------------------------------------ transport


def test_keep_alive_two_requests_one_connection(es8: EsDouble) -> None:
    before = es8.connections_accepted
    conn = http.client.HTTPConnection("127.0.0.1", es8.port, timeout=5)
    try:
        conn.request("GET", "/")
        first = conn.getresponse()
        assert first.status == 200 and first.getheader("Connection") is None
        first.read()
        conn.request("POST", "/_bulk", body=ndjson({"index": {"_index": "k"}}, {"a": 1}), headers=NDJSON)
        second = conn.getresponse()
        assert second.status == 200 and json.loads(second.read())["errors"] is False
    finally:
        conn.close()
    assert es8.connections_accepted - before == 1


def test_chunked_request_body(es8: EsDouble) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", es8.port, timeout=5)
    try:
        chunks = iter([b'{"index":{"_index":"ch"}}\n', b'{"a":1}\n'])
        conn.request("POST", "/_bulk", body=chunks, headers=NDJSON)  # no length: http.client sends chunked
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["errors"] is False
    finally:
        conn.close()
    assert es8.documents("ch")[0]["a"] == 1


# ------------------------------------------------------------------------------------------ admin + read-back


def test_policies_templates_and_readback_es8(es8: EsDouble) -> None:
    json_headers = {"Content-Type": "application/json"}
    policy = {"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": "1d"}}}}}}
    assert call(es8, "PUT", "/_ilm/policy/podlog", json.dumps(policy).encode(), json_headers)[0] == 200
    assert es8.ilm_policies["podlog"] == policy
    status, _, body = call(es8, "GET", "/_ilm/policy/podlog")
    assert status == 200 and body["podlog"]["policy"] == policy["policy"]
    assert call(es8, "GET", "/_ilm/policy/missing")[0] == 404
    assert call(es8, "HEAD", "/_index_template/none")[0] == 404
    assert call(es8, "PUT", "/_plugins/_ism/policies/x", b"{}", json_headers)[0] == 400  # not an OpenSearch

    bulk(es8, {"index": {"_index": "rb"}}, {"a": 1}, {"index": {"_index": "rb"}}, {"a": 2})
    assert call(es8, "POST", "/rb/_refresh")[0] == 200
    assert call(es8, "GET", "/rb/_count")[2]["count"] == 2
    status, _, body = call(es8, "POST", "/rb/_search", b'{"query":{"match_all":{}}}', json_headers)
    assert status == 200 and body["hits"]["total"]["value"] == 2
    assert call(es8, "POST", "/rb/_search", b'{"query":{"term":{"a":1}}}', json_headers)[0] == 400
    status, _, rows = call(es8, "GET", "/_cat/indices?format=json")
    assert [(r["index"], r["docs.count"]) for r in rows] == [("rb", "2")]
    assert call(es8, "GET", "/missing/_count")[2]["error"]["type"] == "index_not_found_exception"


def test_ism_policy_opensearch() -> None:
    with EsDouble("opensearch2") as es:
        policy = {"policy": {"description": "d", "default_state": "hot", "states": []}}
        headers = {"Content-Type": "application/json"}
        status, _, body = call(es, "PUT", "/_plugins/_ism/policies/podlog", json.dumps(policy).encode(), headers)
        assert status == 201 and body["_id"] == "podlog"
        assert es.ism_policies["podlog"]["policy"]["default_state"] == "hot"
        status, _, body = call(es, "PUT", "/_plugins/_ism/policies/podlog", json.dumps(policy).encode(), headers)
        assert status == 409 and body["error"]["type"] == "version_conflict_engine_exception"
        assert call(es, "PUT", "/_ilm/policy/podlog", json.dumps(policy).encode(), headers)[0] == 400
