"""HTTP output against a small collector on loopback that records requests and answers as told."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from podlog.batch import Batch
from podlog.outputs._base import Status
from podlog.outputs.http import HttpOutput
from tests.outputs.output_helpers import attempt, build, chunk_of, doc


class Collector:
    """Records each request; ``answer`` decides the status from the decoded documents."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Callable[[list[Any]], int] = lambda docs: 200
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers: no 40 ms delayed-ACK stall per request

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                if body.startswith(b"["):
                    docs = orjson.loads(body)
                else:
                    docs = [orjson.loads(line) for line in body.splitlines() if line]
                status = collector.answer(docs)
                collector.requests.append({"headers": dict(self.headers), "body": body, "docs": docs,
                                           "status": status, "path": self.path, "gzip": raw != body})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no")

            do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ingest"

    def delivered(self) -> list[str]:
        return sorted(d["message"] for r in self.requests if r["status"] < 300 for d in r["docs"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


def docs(n: int) -> list[bytes]:
    return [doc(message=f"m{i:03d}") for i in range(n)]


def test_ndjson_with_headers_and_basic_auth(collector: Collector) -> None:
    out = build(HttpOutput, url=collector.url, headers={"X-Tenant": "a"}, user="u", password="p")
    assert out.write(chunk_of(Batch("t", docs=docs(3)))).status is Status.DELIVERED
    req = collector.requests[0]
    assert req["path"] == "/ingest" and req["headers"]["X-Tenant"] == "a"
    assert req["headers"]["Content-Type"] == "application/x-ndjson"
    assert req["headers"]["Authorization"].startswith("Basic ")
    assert collector.delivered() == ["m000", "m001", "m002"]


def test_json_array_gzip_bearer_file(collector: Collector, tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("t0ken")
    out = build(HttpOutput, url=collector.url, json_array=True, compress="gzip",
                bearer_token_file=str(tmp_path / "tok"))
    assert out.write(chunk_of(Batch("t", docs=docs(4)))).status is Status.DELIVERED
    req = collector.requests[0]
    assert req["gzip"] and req["body"].startswith(b"[") and len(req["docs"]) == 4
    assert req["headers"]["Authorization"] == "Bearer t0ken"


def test_retry_on_429_and_5xx_sends_only_what_is_left(collector: Collector) -> None:
    out = build(HttpOutput, url=collector.url, max_request_documents=5)
    answers = iter([200, 429, 200, 503])
    collector.answer = lambda docs: next(answers, 200)
    chunk = chunk_of(Batch("t", docs=docs(12)))
    first = attempt(out, chunk)
    assert first.status is Status.RETRY and "429" in first.reason
    assert len(chunk.docs()) == 7
    assert attempt(out, chunk).status is Status.RETRY  # 200 then 503
    assert attempt(out, chunk).status is Status.DELIVERED
    assert collector.delivered() == [f"m{i:03d}" for i in range(12)]


def test_refused_document_is_isolated_and_dead_lettered(collector: Collector) -> None:
    out = build(HttpOutput, url=collector.url)
    collector.answer = lambda ds: 400 if any(d["message"] == "m005" for d in ds) else 200
    result = out.write(chunk_of(Batch("t", docs=docs(10))))
    assert result.status is Status.DELIVERED
    assert [orjson.loads(d)["message"] for d, _ in result.rejected] == ["m005"]
    assert "HTTP 400" in result.rejected[0][1]
    assert len(collector.delivered()) == 9


def test_unreachable_is_retried() -> None:
    out = build(HttpOutput, url="http://127.0.0.1:1/x")
    assert out.write(chunk_of(Batch("t", docs=docs(1)))).status is Status.RETRY


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make test certificates")
    d = tmp_path_factory.mktemp("tls")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=podlog test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.crt",
        "-days", "2", "-extfile", "ext.cnf")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "cli.key", "-out", "cli.csr", "-subj", "/CN=podlog")
    ssl("x509", "-req", "-in", "cli.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cli.crt",
        "-days", "2")
    return d


def test_tls_verified_by_default_and_with_ca_file(collector: Collector, certs: Path) -> None:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "srv.crt", certs / "srv.key")
    collector.server.socket = ctx.wrap_socket(collector.server.socket, server_side=True)
    url = collector.url.replace("http://", "https://")
    unverified = build(HttpOutput, url=url)
    result = unverified.write(chunk_of(Batch("t", docs=docs(1))))
    assert result.status is Status.RETRY and "SSL" in result.reason  # self-signed: refused by default
    trusted = build(HttpOutput, url=url, ca_file=str(certs / "ca.crt"))
    assert trusted.write(chunk_of(Batch("t", docs=docs(2)))).status is Status.DELIVERED
    insecure = build(HttpOutput, url=url, ssl_verify=False)
    assert insecure.write(chunk_of(Batch("t", docs=docs(1)))).status is Status.DELIVERED
    assert len(collector.delivered()) == 3


def test_mutual_tls_with_client_certificate(collector: Collector, certs: Path) -> None:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "srv.crt", certs / "srv.key")
    ctx.load_verify_locations(certs / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    collector.server.socket = ctx.wrap_socket(collector.server.socket, server_side=True)
    url = collector.url.replace("http://", "https://")
    anonymous = build(HttpOutput, url=url, ca_file=str(certs / "ca.crt"))
    assert anonymous.write(chunk_of(Batch("t", docs=docs(1)))).status is Status.RETRY
    out = build(HttpOutput, url=url, ca_file=str(certs / "ca.crt"), client_cert=str(certs / "cli.crt"),
                client_key=str(certs / "cli.key"))
    assert out.write(chunk_of(Batch("t", docs=docs(2)))).status is Status.DELIVERED
