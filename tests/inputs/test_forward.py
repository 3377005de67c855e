"""The forward input against the real fluent-logger library and byte streams built from the protocol spec.

The streams follow the Forward Protocol Specification v1 (Fluentd wiki): each
event mode's array shape, EventTime as ext type 0 (big-endian uint32 seconds
and nanoseconds), the ``chunk`` option and its ``{"ack": chunk}`` answer, and
the HELO/PING/PONG shared-key handshake. One stream is also spelled out
byte by byte, so a packing library cannot hide a mistake.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import select
import socket
import ssl
import struct
from pathlib import Path

import msgpack
import pytest
from fluent import sender

from podlog.inputs.forward import ForwardInput
from tests.inputs.push_helpers import Collector, self_signed, start, wait_for

T0 = 1_700_000_000


def event_time(sec: int, nsec: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", sec, nsec))


def packb(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def connect(plugin: ForwardInput) -> socket.socket:
    sock = socket.create_connection(plugin.address, timeout=10)
    return sock


def read_answer(sock: socket.socket) -> object:
    unp = msgpack.Unpacker(raw=False)
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before an answer")
        unp.feed(data)
        for obj in unp:
            return obj


def closed_by_server(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True once the server closed the connection (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def server(collector: Collector):
    plugin = start(ForwardInput, collector.emit)
    yield plugin
    plugin.stop()


def test_fluent_logger_message_mode(server: ForwardInput, collector: Collector) -> None:
    """fluent-logger sends Message mode: integer time, and EventTime with nanosecond_precision."""
    plain = sender.FluentSender("app", host="127.0.0.1", port=server.address[1])
    precise = sender.FluentSender("app", host="127.0.0.1", port=server.address[1], nanosecond_precision=True)
    try:
        assert plain.emit_with_time("web", T0, {"msg": "hello", "n": 1}), plain.last_error
        assert precise.emit_with_time("api", T0 + 0.25, {"msg": "précis", "nested": {"a": [1, 2]}}), precise.last_error
    finally:
        plain.close()
        precise.close()
    assert wait_for(lambda: collector.count() == 2)
    records = sorted(collector.records(), key=lambda r: r["tag"])
    assert records == [
        {"tag": "app.api", "@timestamp": "2023-11-14T22:13:20.250000000Z", "msg": "précis", "nested": {"a": [1, 2]}},
        {"tag": "app.web", "@timestamp": "2023-11-14T22:13:20.000000000Z", "msg": "hello", "n": 1},
    ]
    assert server.read_records == 2


def test_message_mode_spelled_out_in_bytes(server: ForwardInput, collector: Collector) -> None:
    """["app", EventTime(T0, 5), {"k": "v"}, {"chunk": "c1"}] as the spec's msgpack bytes, and its ack."""
    stream = (
        b"\x94"  # fixarray of 4: tag, time, record, option
        b"\xa3app"  # fixstr tag
        b"\xd7\x00" + struct.pack(">II", T0, 5)  # fixext8, type 0: EventTime
        + b"\x81\xa1k\xa1v"  # fixmap {"k": "v"}
        b"\x81\xa5chunk\xa2c1"  # option {"chunk": "c1"}
    )
    with connect(server) as sock:
        sock.sendall(stream)
        assert read_answer(sock) == {"ack": "c1"}
    assert collector.records() == [{"tag": "app", "@timestamp": "2023-11-14T22:13:20.000000005Z", "k": "v"}]


def test_every_mode_from_the_spec(server: ForwardInput, collector: Collector) -> None:
    entries = [[event_time(T0, i), {"i": i}] for i in range(3)]
    packed = b"".join(packb(e) for e in entries)
    stream = b"".join([
        packb(["m.message", T0, {"i": 0}]),  # Message, integer time
        packb(["m.forward", entries]),  # Forward
        packb(["m.forward_opt", entries, {"size": 3}]),
        packb(["m.packed", packed, {"size": 3}]),  # PackedForward (bin)
        msgpack.packb(["m.packed_str", packed], use_bin_type=False),  # v0 senders: the stream as str/raw
        # CompressedPackedForward, two gzip members appended (as senders do per flush)
        packb(["m.gzip", gzip.compress(packb(entries[0])) + gzip.compress(packb(entries[1]) + packb(entries[2])),
               {"size": 3, "compressed": "gzip"}]),
    ])
    with connect(server) as sock:
        sock.sendall(stream)
        assert wait_for(lambda: collector.count() == 16)
    by_tag: dict[str, list[int]] = {}
    for r in collector.records():
        by_tag.setdefault(r["tag"], []).append(r["i"])
    assert by_tag == {"m.message": [0], "m.forward": [0, 1, 2], "m.forward_opt": [0, 1, 2], "m.packed": [0, 1, 2],
                      "m.packed_str": [0, 1, 2], "m.gzip": [0, 1, 2]}
    stamps = [r["@timestamp"] for r in collector.records() if r["tag"] == "m.gzip"]
    assert stamps == [f"2023-11-14T22:13:20.00000000{i}Z" for i in range(3)]


def test_ack_only_after_the_pipeline_acknowledged() -> None:
    """A chunk's ack waits for the batch's ack (the buffer's durable write or the delivery)."""
    held = Collector(hold=True)
    plugin = start(ForwardInput, held.emit)
    try:
        with connect(plugin) as sock:
            sock.sendall(packb(["t", [[T0, {"a": 1}]], {"chunk": "Y2h1bmsx", "size": 1}]))
            assert wait_for(lambda: held.count() == 1)
            assert select.select([sock], [], [], 0)[0] == []  # emitted, not acknowledged: no ack yet
            held.release()
            assert read_answer(sock) == {"ack": "Y2h1bmsx"}
    finally:
        plugin.stop()


def test_no_ack_when_not_accepted_in_time() -> None:
    """ack_timeout passes without the pipeline's ack: no ack, the connection closes, the client sends again."""
    held = Collector(hold=True)
    plugin = start(ForwardInput, held.emit, ack_timeout="0.2s")
    try:
        with connect(plugin) as sock:
            sock.sendall(packb(["t", [[T0, {"a": 1}]], {"chunk": "c"}]))
            assert closed_by_server(sock)
        assert plugin.stats["ack_timeout"] == 1
    finally:
        plugin.stop()


def _ping(helo: object, key: str, hostname: str = "client.example") -> tuple[list[object], bytes]:
    assert isinstance(helo, list) and helo[0] == "HELO"
    nonce = helo[1]["nonce"]
    salt = os.urandom(16)
    digest = hashlib.sha512(salt + hostname.encode() + nonce + key.encode()).hexdigest()
    return ["PING", hostname, salt, digest, "", ""], salt


def test_shared_key_handshake() -> None:
    got = Collector()
    plugin = start(ForwardInput, got.emit, shared_key="s3cret", self_hostname="podlog.example")
    try:
        with connect(plugin) as sock:
            helo = read_answer(sock)
            assert helo[1]["auth"] == b"" and len(helo[1]["nonce"]) == 16 and helo[1]["keepalive"] is True
            ping, salt = _ping(helo, "s3cret")
            sock.sendall(packb(ping))
            answer = read_answer(sock)
            expected = hashlib.sha512(salt + b"podlog.example" + helo[1]["nonce"] + b"s3cret").hexdigest()
            assert answer == ["PONG", True, "", "podlog.example", expected]
            sock.sendall(packb(["secure", T0, {"ok": True}, {"chunk": "k"}]))
            assert read_answer(sock) == {"ack": "k"}
        with connect(plugin) as sock:
            ping, _ = _ping(read_answer(sock), "wrong key")
            sock.sendall(packb(ping))
            assert read_answer(sock)[:3] == ["PONG", False, "shared_key mismatch"]
            assert closed_by_server(sock)
        with connect(plugin) as sock:  # data before the handshake is not a PING: refused
            read_answer(sock)
            sock.sendall(packb(["sneaky", T0, {"x": 1}]))
            assert read_answer(sock)[:2] == ["PONG", False]
            assert closed_by_server(sock)
        assert [r["tag"] for r in got.records()] == ["secure"]
    finally:
        plugin.stop()


def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    got = Collector()
    plugin = start(ForwardInput, got.emit, tls=True, tls_cert_path=str(cert), tls_key_path=str(key))
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        raw = socket.create_connection(plugin.address, timeout=10)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(packb(["tls.app", T0, {"secret": "yes"}, {"chunk": "t1"}]))
            assert read_answer(sock) == {"ack": "t1"}  # type: ignore[arg-type]
        with connect(plugin) as sock:  # plain text to a TLS port: closed, nothing accepted
            sock.sendall(packb(["plain", T0, {"x": 1}]))
            assert closed_by_server(sock)
        assert [r["tag"] for r in got.records()] == ["tls.app"]
    finally:
        plugin.stop()


@pytest.mark.parametrize("garbage", [
    b"\xc1" * 64,  # never-used msgpack byte
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # an HTTP client on the forward port
    packb(42),  # valid msgpack, not a message
    packb(["tag", "not a time", {"a": 1}, "not an option map"]),
    packb(["t", b"\x93\x01", {"compressed": "gzip"}]),  # "gzip" that is not
])
def test_garbage_closes_the_connection(server: ForwardInput, collector: Collector, garbage: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(garbage)
        assert closed_by_server(sock)
    assert server.stats["bad_frame"] == 1
    with connect(server) as sock:  # the server is fine
        sock.sendall(packb(["after", T0, {"ok": 1}, {"chunk": "a"}]))
        assert read_answer(sock) == {"ack": "a"}


def test_invalid_events_are_skipped_and_counted(server: ForwardInput, collector: Collector) -> None:
    with connect(server) as sock:
        sock.sendall(packb(["t", [[T0, {"ok": 1}], ["bad time", {"x": 1}], [T0, "not a map"], [T0, {"ok": 2}]],
                            {"chunk": "c"}]))
        assert read_answer(sock) == {"ack": "c"}
    assert [r["ok"] for r in collector.records()] == [1, 2]
    assert server.stats["invalid_event"] == 2


def test_half_sent_frame_and_silent_connection_are_closed(collector: Collector) -> None:
    plugin = start(ForwardInput, collector.emit, idle_timeout="0.3s")
    try:
        frame = packb(["t", T0, {"message": "x" * 100}])
        with connect(plugin) as half, connect(plugin) as silent:
            half.sendall(frame[:20])
            assert closed_by_server(half)
            assert closed_by_server(silent)
        assert plugin.stats["idle_closed"] == 2
        assert collector.count() == 0
    finally:
        plugin.stop()


def test_oversized_message_closes_the_connection(collector: Collector) -> None:
    plugin = start(ForwardInput, collector.emit, chunk_size_limit="64KiB")
    try:
        with connect(plugin) as sock:
            try:
                sock.sendall(packb(["t", T0, {"message": "x" * 200_000}]))
            except (ConnectionResetError, BrokenPipeError):
                pass
            assert closed_by_server(sock)
        bomb = gzip.compress(packb([T0, {"m": "z" * 1_000_000}]))  # 1 MB out of ~1 KB
        with connect(plugin) as sock:
            sock.sendall(packb(["t", bomb, {"compressed": "gzip"}]))
            assert closed_by_server(sock)
        assert plugin.stats["too_large"] == 1 and plugin.stats["bad_frame"] == 1
        assert collector.count() == 0
    finally:
        plugin.stop()


def test_invalid_utf8_is_kept_replaced(server: ForwardInput, collector: Collector) -> None:
    raw_record = b"\x81\xa3msg\xa4ab\xff\xfe"  # {"msg": "ab\xff\xfe"}: a str that is not UTF-8
    stream = b"\x93\xa1t" + packb(T0) + raw_record
    with connect(server) as sock:
        sock.sendall(stream)
        assert wait_for(lambda: collector.count() == 1)
    assert collector.records()[0]["msg"] == "ab\ufffd\ufffd"


def test_too_many_connections_are_closed_at_once(collector: Collector) -> None:
    plugin = start(ForwardInput, collector.emit, max_connections=2)
    try:
        with connect(plugin) as a, connect(plugin) as b:
            a.sendall(packb(["a", T0, {}, {"chunk": "1"}]))
            assert read_answer(a) == {"ack": "1"}
            b.sendall(packb(["b", T0, {}, {"chunk": "2"}]))
            assert read_answer(b) == {"ack": "2"}
            with connect(plugin) as c:
                assert closed_by_server(c)
        assert plugin.stats["connection_refused"] == 1
    finally:
        plugin.stop()


def test_port_in_use_is_a_clear_error(server: ForwardInput, collector: Collector) -> None:
    from podlog.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"test:0: port: cannot listen on 127.0.0.1:\d+: .*in use"):
        start(ForwardInput, collector.emit, port=server.address[1])


def test_tag_prefix_and_source_address(collector: Collector) -> None:
    plugin = start(ForwardInput, collector.emit, add_tag_prefix="relayed", source_address_key="peer")
    try:
        with connect(plugin) as sock:
            sock.sendall(packb(["app.web", T0, {"a": 1}, {"chunk": "p"}]))
            assert read_answer(sock) == {"ack": "p"}
    finally:
        plugin.stop()
    assert collector.records() == [{"tag": "relayed.app.web", "@timestamp": "2023-11-14T22:13:20.000000000Z", "a": 1,
                                    "peer": "127.0.0.1"}]
