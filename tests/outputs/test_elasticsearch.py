"""Elasticsearch output against the protocol double: bulk, per-item outcomes, ids, auth, versions, setup."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from podlog.batch import Batch
from podlog.config.errors import ConfigError
from podlog.outputs._base import Status
from podlog.outputs.elasticsearch import ElasticsearchOutput
from tests.drivers.es_double import EsDouble
from tests.outputs.output_helpers import attempt, build, chunk_of, doc, file_batch


def es_output(es: EsDouble, **options: Any) -> ElasticsearchOutput:
    out = build(ElasticsearchOutput, hosts=es.url, **options)
    out.start()
    return out


def messages(es: EsDouble, index: str | None = None) -> list[str]:
    return sorted(d["message"] for d in es.documents(index) if "message" in d)


@pytest.mark.parametrize("flavor", ["es7", "es8", "opensearch2"])
def test_indexes_every_flavor_and_detects_it(flavor: str) -> None:
    with EsDouble(flavor) as es:
        out = es_output(es, index_name="logs")
        docs = [doc(message=f"m{i}") for i in range(10)]
        result = out.write(chunk_of(file_batch(docs)))
        assert result.status is Status.DELIVERED and not result.rejected
        assert messages(es, "logs") == sorted(f"m{i}" for i in range(10))
        assert out.server is not None
        assert out.server.flavor == ("opensearch" if flavor.startswith("opensearch") else "elasticsearch")
        for r in es.bulk_requests:
            assert b"_type" not in r.body
        assert not es.internal_errors


def test_gzip_and_path_prefix_and_size_limits() -> None:
    with EsDouble("es8", path_prefix="/es") as es:
        out = es_output(es, index_name="logs", bulk_message_request_threshold=2000, bulk_max_documents=7)
        docs = [doc(message=f"m{i}", pad="x" * 100) for i in range(40)]
        assert out.write(chunk_of(file_batch(docs))).status is Status.DELIVERED
        bulks = es.bulk_requests
        assert len(bulks) >= 6
        assert all(r.gzip for r in bulks)
        assert all(r.doc_count <= 7 and len(r.body) <= 2000 for r in bulks)
        assert len(es.documents("logs")) == 40
        assert es.connections_accepted <= 2  # keep-alive: one connection reused


def test_no_gzip() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, gzip=False)
        out.write(chunk_of(file_batch([doc(message="a")])))
        assert not es.bulk_requests[0].gzip
        out2 = es_output(es, compression_level="best_compression")
        assert out2.gzip_level == 9


def test_logstash_format_uses_record_date_utc() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, logstash_format=True, logstash_prefix="k8s")
        docs = [doc("2024-01-31T23:59:59.9Z", message="a"), doc("2024-02-01T00:00:00Z", message="b"),
                doc("2024-02-01T01:30:00+02:00", message="c")]
        assert out.write(chunk_of(file_batch(docs))).status is Status.DELIVERED
        assert messages(es, "k8s-2024.01.31") == ["a", "c"]
        assert messages(es, "k8s-2024.02.01") == ["b"]


def test_index_template_from_fields_and_tag() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, index_name="logs-${kubernetes.namespace_name}-${tag_parts[0]}", include_tag_key=True)
        docs = [doc(message="a", kubernetes={"namespace_name": "Team-A"}), doc(message="b")]
        assert out.write(chunk_of(file_batch(docs, tag="kube.x"), tag="kube.x")).status is Status.DELIVERED
        assert messages(es, "logs-team-a-kube") == ["a"]
        assert messages(es, "logs-unknown-kube") == ["b"]
        assert {d["tag"] for d in es.documents()} == {"kube.x"}


def test_idempotent_ids_make_retries_and_rereads_harmless() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, index_name="logs")
        docs = [doc(message=f"m{i}") for i in range(20)]
        assert out.write(chunk_of(file_batch(docs))).status is Status.DELIVERED
        # A crash-restart reads the same lines again: same source and offsets, same ids -> 409 -> delivered.
        again = out.write(chunk_of(file_batch(docs)))
        assert again.status is Status.DELIVERED and not again.rejected
        assert len(es.documents("logs")) == 20
        assert out.stats()["duplicate"] == 20
        last = es.bulk_requests[-1]
        assert set(last.item_statuses) == {409}
        assert b'"create"' in last.body


def test_no_ids_without_file_source_and_id_key() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, index_name="logs")
        out.write(chunk_of(Batch("t", docs=[doc(message="a"), doc(message="a")])))
        assert len(es.documents("logs")) == 2
        assert b'"_id"' not in es.bulk_requests[-1].body
        out2 = es_output(es, index_name="logs2", id_key="uid")
        out2.write(chunk_of(Batch("t", docs=[doc(message="a", uid="u1"), doc(message="b", uid="u1")])))
        assert [d["_id"] for d in es.documents("logs2")] == ["u1"]
        out3 = es_output(es, index_name="logs3", idempotent="false")
        out3.write(chunk_of(file_batch([doc(message="a")])))
        out3.write(chunk_of(file_batch([doc(message="a")])))
        assert len(es.documents("logs3")) == 2


def test_429_items_are_retried_alone_and_mapping_errors_dead_lettered() -> None:
    with EsDouble("es8", seed=7) as es:
        out = es_output(es, index_name="logs")
        good = [doc(message=f"g{i}", code=i) for i in range(200)]
        bad = [doc(message=f"b{i}", code=f"not-a-number-{i}") for i in range(5)]
        chunk = chunk_of(file_batch(good[:100] + bad + good[100:]))
        es.reject_ratio_429 = 0.1
        results = []
        for _ in range(30):
            results.append(attempt(out, chunk))
            if results[-1].status is Status.DELIVERED:
                break
        final = results[-1]
        assert final.status is Status.DELIVERED
        assert results[0].status is Status.RETRY
        assert "es_rejected_execution_exception" in results[0].reason
        # The retry sent only what failed.
        assert es.bulk_requests[1].doc_count < 50
        # Each refusal is reported once, by the attempt that found it (the engine dead-letters it at once).
        refused = [r for result in results for r in result.rejected]
        assert sorted(d for d, _ in refused) == sorted(bad)
        assert all("mapper_parsing_exception" in r or "document_parsing_exception" in r for _, r in refused)
        assert messages(es, "logs") == sorted(f"g{i}" for i in range(200))
        stats = out.stats()
        assert stats["indexed"] == 200 and stats["retry_es_rejected_execution_exception"] > 0


def test_whole_request_failures_retry_then_deliver() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, index_name="logs")
        chunk = chunk_of(file_batch([doc(message=f"m{i}") for i in range(5)]))
        es.fail_next_requests(1, 503)
        first = attempt(out, chunk)
        assert first.status is Status.RETRY and "503" in first.reason
        es.fail_next_requests(1, 429)
        assert attempt(out, chunk).status is Status.RETRY
        assert attempt(out, chunk).status is Status.DELIVERED
        assert len(es.documents("logs")) == 5


def test_413_splits_and_refuses_only_the_oversized_doc() -> None:
    with EsDouble("es8", max_content_length=3000) as es:
        out = es_output(es, index_name="logs", gzip=False)
        huge = doc(message="huge", pad="x" * 5000)
        docs = [doc(message=f"m{i}") for i in range(10)]
        result = out.write(chunk_of(file_batch([*docs[:5], huge, *docs[5:]])))
        assert result.status is Status.DELIVERED
        assert [d for d, _ in result.rejected] == [huge]
        assert len(es.documents("logs")) == 10


def test_failover_to_second_host() -> None:
    with EsDouble("es8") as a, EsDouble("es8") as b:
        out = build(ElasticsearchOutput, hosts=f"{a.url},{b.url}", index_name="logs")
        out.start()
        chunk = chunk_of(file_batch([doc(message="x")]))
        a.down()
        assert out.write(chunk).status is Status.DELIVERED
        assert len(b.documents("logs")) == 1


def test_unreachable_retries_and_recovers() -> None:
    with EsDouble("es8") as es:
        es.down()
        out = es_output(es, index_name="logs")
        chunk = chunk_of(file_batch([doc(message="x")]))
        result = attempt(out, chunk)
        assert result.status is Status.RETRY and "no host answered" in result.reason
        es.up()
        assert attempt(out, chunk).status is Status.DELIVERED


def test_data_stream_uses_create_and_needs_timestamp() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, data_stream_name="logs-k8s-${kubernetes.namespace_name}")
        docs = [doc(message="a", kubernetes={"namespace_name": "prod"}),
                json.dumps({"message": "no time"}).encode()]
        result = out.write(chunk_of(Batch("t", docs=docs)))
        assert result.status is Status.DELIVERED
        assert [d for d, _ in result.rejected] == [docs[1]]
        assert "logs-k8s-prod" in es.data_streams()
        assert messages(es, "logs-k8s-prod") == ["a"]
        assert b'"create"' in es.bulk_requests[-1].body


@pytest.mark.parametrize("kind", ["basic", "api_key", "bearer", "bearer_file", "env"])
def test_auth_kinds(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    caplog: pytest.LogCaptureFixture) -> None:
    kwargs: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if kind in ("basic", "env"):
        kwargs["basic"] = ("elastic", "s3cret-pw")
        if kind == "basic":
            options = {"user": "elastic", "password": "s3cret-pw"}
        else:
            monkeypatch.setenv("FLUENT_ELASTICSEARCH_USER", "elastic")
            monkeypatch.setenv("FLUENT_ELASTICSEARCH_PASSWORD", "s3cret-pw")
    elif kind == "api_key":
        kwargs["api_key"] = "keyid:s3cret-key"
        options = {"api_key": "keyid:s3cret-key"}
    else:
        kwargs["bearer"] = "s3cret-token"
        if kind == "bearer":
            options = {"bearer_token": "s3cret-token"}
        else:
            (tmp_path / "token").write_text("s3cret-token\n")
            options = {"bearer_token_file": str(tmp_path / "token")}
    caplog.set_level(logging.DEBUG)
    with EsDouble("es8", **kwargs) as es:
        out = es_output(es, index_name="logs", **options)
        assert out.write(chunk_of(file_batch([doc(message="x")]))).status is Status.DELIVERED
        bad = build(ElasticsearchOutput, hosts=es.url, index_name="logs", user="elastic", password="wrong-s3cret")
        bad.start()
        result = bad.write(chunk_of(file_batch([doc(message="y")])))
        assert result.status is Status.RETRY and "401" in result.reason
        for text in (result.reason, caplog.text):
            assert "s3cret" not in text


def test_credentials_in_url_are_stripped_from_errors() -> None:
    with EsDouble("es8") as es:
        es.down()
        out = build(ElasticsearchOutput, hosts=f"http://elastic:pa55word@127.0.0.1:{es.port}")
        result = out.write(chunk_of(file_batch([doc(message="x")])))
        assert result.status is Status.RETRY and "pa55word" not in result.reason


def test_env_host_port_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    with EsDouble("es7") as es:
        monkeypatch.setenv("FLUENT_ELASTICSEARCH_HOST", "127.0.0.1")
        monkeypatch.setenv("FLUENT_ELASTICSEARCH_PORT", str(es.port))
        monkeypatch.setenv("FLUENT_ELASTICSEARCH_SCHEME", "http")
        out = build(ElasticsearchOutput, logstash_format=True)
        out.start()
        assert out.urls == [f"http://127.0.0.1:{es.port}"]
        assert out.write(chunk_of(file_batch([doc(message="x")]))).status is Status.DELIVERED


@pytest.mark.parametrize("flavor", ["es7", "es8", "opensearch2"])
def test_template_and_policy_installed_before_first_write(flavor: str, tmp_path: Path) -> None:
    template = tmp_path / "t.json"
    template.write_text(json.dumps({"index_patterns": ["logs-*"], "template": {
        "mappings": {"properties": {"code": {"type": "keyword"}}}}}))
    ism = {"policy": {"description": "x", "default_state": "hot", "states": [{"name": "hot", "actions": [],
                                                                              "transitions": []}]}}
    with EsDouble(flavor) as es:
        out = es_output(es, index_name="logs-a", template_name="podlog", template_file=str(template),
                        use_legacy_template=False, ilm_policy_id="podlog-policy",
                        ilm_policy=json.dumps(ism) if flavor == "opensearch2" else "")
        assert "podlog" in es.templates
        if flavor == "opensearch2":
            assert "podlog-policy" in es.ism_policies
        else:
            assert "podlog-policy" in es.ilm_policies
        assert out.write(chunk_of(file_batch([doc(message="x", code=5)]))).status is Status.DELIVERED
        assert es.mapping("logs-a")["properties"]["code"]["type"] == "keyword"  # template applied first


def test_fluentd_parameter_names_accepted_and_unknown_rejected(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    out = build(ElasticsearchOutput, host="es", port=9201, scheme="https", path="/proxy", user="u", password="p",
                ssl_verify=False, logstash_format=True, logstash_prefix="k", logstash_dateformat="%Y%m%d",
                include_tag_key=True, tag_key="t", write_operation="create", request_timeout="5s",
                bulk_message_request_threshold="2m", compression_level="best_speed", suppress_type_name=True,
                reconnect_on_error=True, type_name="_doc", template_name="x", template_file="/nope",
                ilm_policy_id="p", custom_headers={"X-A": "1"}, ca_file="", client_cert="", client_key="")
    assert out.urls == ["https://es:9201/proxy"]
    assert out.options.bulk_message_request_threshold == 2 * 1024 * 1024
    assert "type_name" in caplog.text
    with pytest.raises(ConfigError, match="unknown option"):
        build(ElasticsearchOutput, hots="x")


def test_id_is_deterministic_and_short() -> None:
    from podlog.outputs.elasticsearch.index import doc_id

    a = doc_id("2049:1234", 100, b"2024-01-01T00:00:00Z")
    assert a == doc_id("2049:1234", 100, b"2024-01-01T00:00:00Z")
    assert len(a) == 20 and a != doc_id("2049:1234", 101, b"2024-01-01T00:00:00Z")
    assert a != doc_id("2049:1234", 100, b"2024-06-01T00:00:00Z")  # inode reused by a newer file


def test_gzip_body_is_valid() -> None:
    with EsDouble("es8") as es:
        out = es_output(es, index_name="logs", compression_level="9")
        out.write(chunk_of(file_batch([doc(message="x")])))
        r = es.bulk_requests[-1]
        assert gzip.decompress(r.raw_body) == r.body


def test_fluentd_daemonset_config_loads(tmp_path: Path) -> None:
    """The fluentd-kubernetes-daemonset <match> block, env unset except the host: loads as is."""
    import subprocess
    import sys

    conf = tmp_path / "fluent.conf"
    conf.write_text(f"""
<source>
  @type tail
  path {tmp_path}/*.log
  tag kubernetes.*
</source>
<match kubernetes.**>
  @type elasticsearch
  @id out_es
  host "#{{ENV['FLUENT_ELASTICSEARCH_HOST']}}"
  port "#{{ENV['FLUENT_ELASTICSEARCH_PORT']}}"
  scheme "#{{ENV['FLUENT_ELASTICSEARCH_SCHEME'] || 'http'}}"
  ssl_verify "#{{ENV['FLUENT_ELASTICSEARCH_SSL_VERIFY'] || 'true'}}"
  user "#{{ENV['FLUENT_ELASTICSEARCH_USER']}}"
  password "#{{ENV['FLUENT_ELASTICSEARCH_PASSWORD']}}"
  reload_connections false
  reconnect_on_error true
  logstash_format true
  type_name _doc
  include_tag_key true
  <buffer>
    flush_interval 5s
    retry_forever true
  </buffer>
</match>
""")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("FLUENT_")}
    env["FLUENT_ELASTICSEARCH_HOST"] = "es.logging"
    r = subprocess.run([sys.executable, "-m", "podlog", "check", "-c", str(conf)], capture_output=True, text=True,
                       env=env, check=False)
    assert r.returncode == 0, r.stderr
