"""The http input: Fluentd in_http's request forms (curl, as the docs show them), answers and limits."""

from __future__ import annotations

import gzip
import http.client
import socket
import subprocess
import threading
from typing import Any

import orjson
import pytest

from podlog.inputs.http import HttpInput
from tests.inputs.push_helpers import Collector, self_signed, start, wait_for

T0 = 1_700_000_000


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def server(collector: Collector):
    plugin = start(HttpInput, collector.emit)
    yield plugin
    plugin.stop()


def post(plugin: HttpInput, path: str, body: bytes, headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection(*plugin.address, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict(resp.getheaders()), orjson.loads(data) if data else None
    finally:
        conn.close()


def curl(plugin: HttpInput, *args: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{plugin.address[1]}"
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *[a.replace("URL", url) for a in args]],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def test_curl_forms_of_fluentd_in_http(server: HttpInput, collector: Collector, tmp_path) -> None:
    ndjson = tmp_path / "batch.ndjson"
    ndjson.write_bytes(b'{"n":1}\n{"n":2,"time":1700000001}\n\n{}\n')
    gz = tmp_path / "batch.json.gz"
    gz.write_bytes(gzip.compress(orjson.dumps([{"g": i} for i in range(3)])))
    assert curl(server, "-X", "POST", "-d", 'json={"action":"login","user":2}', "URL/debug.test?time=1700000000") \
        == (200, "")
    assert curl(server, "-H", "Content-Type: application/json", "-d", '{"obj":true,"time":1700000000.5}',
                "URL/app/object") == (200, "")
    assert curl(server, "-H", "Content-Type: application/x-ndjson", "--data-binary", f"@{ndjson}",
                "URL/app.lines") == (200, "")
    assert curl(server, "-H", "Content-Type: application/json", "-H", "Content-Encoding: gzip",
                "--data-binary", f"@{gz}", "URL/app.gz") == (200, "")
    assert curl(server, "-d", '{"curl_default_form": 1}', "URL/app.plain") == (200, "")
    records = collector.records()
    assert records[0] == {"tag": "debug.test", "@timestamp": "2023-11-14T22:13:20.000000000Z", "action": "login",
                          "user": 2}
    assert records[1] == {"tag": "app.object", "@timestamp": "2023-11-14T22:13:20.500000000Z", "obj": True}
    lines = [r for r in records if r["tag"] == "app.lines"]
    assert [r.get("n") for r in lines] == [1, 2, None]
    assert lines[1]["@timestamp"] == "2023-11-14T22:13:21.000000000Z" and "time" not in lines[1]
    assert [r["g"] for r in records if r["tag"] == "app.gz"] == [0, 1, 2]
    assert records[-1]["curl_default_form"] == 1
    assert all(list(r)[1] == "@timestamp" for r in records)  # first field after our test's tag


def test_msgpack_body_and_keep_alive(server: HttpInput, collector: Collector) -> None:
    import msgpack

    conn = http.client.HTTPConnection(*server.address, timeout=20)
    try:
        for i in range(3):  # one connection, three requests
            conn.request("POST", f"/mp.{i}", body=msgpack.packb([{"i": i}, {"i": i + 10}]),
                         headers={"Content-Type": "application/msgpack"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
    finally:
        conn.close()
    assert [r["i"] for r in collector.records()] == [0, 10, 1, 11, 2, 12]
    assert server.stats["connection_refused"] == 0


@pytest.mark.parametrize(("body", "headers", "message"), [
    (b'{"a":', {"Content-Type": "application/json"}, "body is not JSON"),
    (b'{"a":1}\n{"b":\n', {"Content-Type": "application/x-ndjson"}, "line 2 is not JSON"),
    (b"[1, 2]", {"Content-Type": "application/json"}, "record 1 is a int, not an object"),
    (b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, "a form body needs a json="),
    (b"not gzip", {"Content-Encoding": "gzip"}, "body is not valid gzip"),
    (b"", {}, "empty body: no records"),
])
def test_bad_bodies_get_400_and_nothing_is_kept(server: HttpInput, collector: Collector, body: bytes,
                                                headers: dict[str, str], message: str) -> None:
    status, _, answer = post(server, "/app", body, headers)
    assert status == 400
    assert message in answer["error"]
    assert collector.count() == 0


def test_tag_comes_from_the_path(server: HttpInput) -> None:
    status, _, answer = post(server, "/", b'{"a":1}', {"Content-Type": "application/json"})
    assert status == 400 and "tag comes from the URL path" in answer["error"]
    assert post(server, "/", b"", method="DELETE")[0] == 405
    assert post(server, "/get.form?json=%7B%22q%22%3A1%7D", b"", method="GET")[0] == 200  # in_http's GET form


def test_token_auth(collector: Collector) -> None:
    plugin = start(HttpInput, collector.emit, token="t0ken")
    try:
        assert post(plugin, "/a", b'{"x":1}')[0] == 401
        assert post(plugin, "/a", b'{"x":1}', {"Authorization": "Bearer nope"})[0] == 401
        assert post(plugin, "/a", b'{"x":1}', {"Authorization": "Bearer t0ken"})[0] == 200
        assert collector.count() == 1
    finally:
        plugin.stop()


def test_answer_waits_for_the_ack(collector: Collector) -> None:
    held = Collector(hold=True)
    plugin = start(HttpInput, held.emit)
    answers: list[int] = []
    try:
        t = threading.Thread(target=lambda: answers.append(post(plugin, "/held", b'{"a":1}')[0]))
        t.start()
        assert wait_for(lambda: held.count() == 1)
        assert answers == []  # emitted, not acknowledged: no answer yet
        held.release()
        t.join(20)
        assert answers == [200]
    finally:
        plugin.stop()


def test_no_ack_in_time_is_503_with_retry_after() -> None:
    held = Collector(hold=True)
    plugin = start(HttpInput, held.emit, ack_timeout="0.2s", retry_after=7)
    try:
        status, headers, answer = post(plugin, "/held", b'{"a":1}')
        assert status == 503 and headers["Retry-After"] == "7" and "retry later" in answer["error"]
    finally:
        plugin.stop()


def test_backpressure_is_429_with_retry_after() -> None:
    """While the pipeline blocks (a full buffer), the hand-off fills past queue_limit: 429 at once."""
    block = threading.Event()
    block.set()
    blocked = Collector(block=block)
    plugin = start(HttpInput, blocked.emit, queue_limit=100)
    answers: list[int] = []
    try:
        first = threading.Thread(target=lambda: answers.append(post(plugin, "/a", orjson.dumps({"m": "x" * 200}))[0]))
        first.start()
        assert wait_for(lambda: plugin.busy)
        status, headers, answer = post(plugin, "/b", b'{"m":1}')
        assert status == 429 and headers["Retry-After"] == "1" and "buffers are full" in answer["error"]
        block.clear()
        first.join(20)
        assert answers == [200]
        assert post(plugin, "/c", b'{"m":2}')[0] == 200
        assert [r["tag"] for r in blocked.records()] == ["a", "c"]
    finally:
        block.clear()
        plugin.stop()


def _raw(plugin: HttpInput, data: bytes) -> socket.socket:
    sock = socket.create_connection(plugin.address, timeout=20)
    sock.sendall(data)
    return sock


def _status(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return int(data.split(b" ", 2)[1]), data


def test_100_mb_body_is_refused_without_reading_it(server: HttpInput, collector: Collector) -> None:
    with _raw(server, b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n" + b"x" * 65536) as sock:
        status, head = _status(sock)
        assert status == 413 and b"Connection: close" in head
    assert server.read_bytes == 0


def test_endless_chunked_body_stops_at_the_limit(collector: Collector) -> None:
    plugin = start(HttpInput, collector.emit, body_size_limit="1MiB")
    try:
        sock = _raw(plugin, b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"y" * 65536)
        sent = 0
        try:
            while sent < 100 * 1024 * 1024:  # up to 100 MB: the server must stop us long before
                sock.sendall(chunk)
                sent += 65536
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert sent <= 64 * 1024 * 1024  # the server cut it off (socket buffers hold a few MB at most)
        sock.close()
        assert collector.count() == 0
        assert plugin.stats["bad_request"] == 1
    finally:
        plugin.stop()


def test_gzip_bomb_is_413(server: HttpInput, collector: Collector) -> None:
    bomb = gzip.compress(b"[" + b" " * (40 * 1024 * 1024) + b"]")  # 40 MiB of JSON out of ~40 KiB
    status, _, answer = post(server, "/bomb", bomb, {"Content-Encoding": "gzip"})
    assert status == 413 and "once decompressed" in answer["error"]


def test_garbage_and_half_sent_requests(collector: Collector) -> None:
    plugin = start(HttpInput, collector.emit, idle_timeout="0.3s")
    try:
        with _raw(plugin, b"\x00\x01garbage\r\n\r\n") as sock:
            assert _status(sock)[0] == 400
        with _raw(plugin, b"GARBAGE" * 20_000) as sock:  # no end of head within 64 KiB
            assert _status(sock)[0] == 431
        with _raw(plugin, b"POST /half HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\":") as sock:
            assert sock.recv(100) == b""  # idle_timeout: closed, nothing accepted
        with _raw(plugin, b"") as sock:  # connects and never sends
            assert sock.recv(100) == b""
        assert plugin.stats["idle_closed"] == 2
        assert collector.count() == 0
    finally:
        plugin.stop()


def test_expect_100_continue(server: HttpInput, collector: Collector) -> None:
    with _raw(server, b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n") as sock:
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b'{"e":1}')
        assert _status(sock)[0] == 200
    assert collector.records()[0]["e"] == 1


def test_tls_and_added_fields(tmp_path, collector: Collector) -> None:
    cert, key = self_signed(tmp_path)
    plugin = start(HttpInput, collector.emit, tls=True, tls_cert_path=cert, tls_key_path=key, add_remote_addr=True,
                   add_http_headers=True)
    try:
        url = f"https://127.0.0.1:{plugin.address[1]}/secure.app"
        out = subprocess.run(["curl", "-sS", "--cacert", cert, "-H", "X-Team: shop", "-d", '{"a":1}', "-o",
                              "/dev/null", "-w", "%{http_code}", url], capture_output=True, text=True, timeout=30)
        assert out.stdout == "200", out.stderr
        plain = subprocess.run(["curl", "-sS", "-d", '{"a":1}', url.replace("https", "http")],
                               capture_output=True, text=True, timeout=30)
        assert plain.returncode != 0  # plain HTTP to the TLS port: no answer, nothing kept
    finally:
        plugin.stop()
    [record] = collector.records()
    assert (record["tag"], record["a"], record["REMOTE_ADDR"], record["HTTP_X_TEAM"]) == (
        "secure.app", 1, "127.0.0.1", "shop")
