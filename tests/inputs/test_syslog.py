"""The syslog input with real senders: util-linux ``logger`` and rsyslog forwarding over loopback."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from podlog.inputs.syslog import SyslogInput
from tests.inputs.push_helpers import Collector, start, wait_for

needs_logger = pytest.mark.skipif(shutil.which("logger") is None, reason="logger (bsdutils/util-linux) not installed")
RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)


@pytest.fixture
def collector() -> Collector:
    return Collector()


def logger(port: int, *args: str) -> None:
    subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), *args], check=True, timeout=30)


@needs_logger
def test_logger_udp_and_tcp_both_formats(collector: Collector) -> None:
    udp = start(SyslogInput, collector.emit, transport="udp", tag="sys", source_address_key="source")
    tcp = start(SyslogInput, collector.emit, transport="tcp", tag="sys")
    try:
        logger(udp.address[1], "-d", "--rfc5424", "-t", "app", "-p", "local3.err", "--id=42", "udp 5424")
        logger(udp.address[1], "-d", "--rfc3164", "-t", "app", "-p", "auth.info", "udp 3164")
        logger(tcp.address[1], "-T", "--octet-count", "--rfc5424", "-t", "app", "tcp octet-counted 5424")
        logger(tcp.address[1], "-T", "--rfc3164", "-t", "app", "-p", "daemon.warning", "tcp newline 3164")
        assert wait_for(lambda: collector.count() == 4)
    finally:
        udp.stop()
        tcp.stop()
    by_message = {r["message"]: r for r in collector.records()}
    r = by_message["udp 5424"]
    assert (r["tag"], r["ident"], r["pid"], r["pri"], r["source"]) == ("sys.local3.err", "app", "42", 155, "127.0.0.1")
    assert r["@timestamp"].endswith("Z") and len(r["@timestamp"]) > 20
    assert by_message["udp 3164"]["tag"] == "sys.auth.info"
    assert by_message["tcp octet-counted 5424"]["tag"] == "sys.user.notice"
    assert by_message["tcp newline 3164"]["tag"] == "sys.daemon.warning"
    assert all(r["host"] for r in by_message.values())


@pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd not installed (scripts/test.sh installs it as root)")
@needs_logger
def test_rsyslog_forwards_to_podlog(tmp_path: Path, collector: Collector) -> None:
    """rsyslog (started here, unprivileged paths) relays logger's messages in three framings."""
    tcp = start(SyslogInput, collector.emit, transport="tcp", tag="rs")
    udp = start(SyslogInput, collector.emit, transport="udp", tag="rsu")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        in_port = probe.getsockname()[1]
    work = tmp_path / "work"
    work.mkdir()
    config = tmp_path / "rsyslog.conf"
    config.write_text(f"""
global(workDirectory="{work}")
module(load="imudp")
input(type="imudp" port="{in_port}" address="127.0.0.1")
action(type="omfwd" target="127.0.0.1" port="{tcp.address[1]}" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{tcp.address[1]}" protocol="tcp" template="RSYSLOG_ForwardFormat")
action(type="omfwd" target="127.0.0.1" port="{udp.address[1]}" protocol="udp")
""")
    log = (tmp_path / "rsyslogd.log").open("wb")
    proc = subprocess.Popen([str(RSYSLOGD), "-n", "-f", str(config), "-i", str(tmp_path / "rsyslogd.pid")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def sent_and_seen() -> bool:  # rsyslog needs a moment to open its port: send until relayed
            if not any(r["message"] == "ping" for r in collector.records()):
                logger(in_port, "-d", "-t", "probe", "ping")
                return False
            return True

        assert wait_for(sent_and_seen, timeout=30), (tmp_path / "rsyslogd.log").read_text()
        for i in range(20):
            logger(in_port, "-d", "--rfc3164", "-t", "relay", "-p", "local1.notice", f"relayed {i}")
        assert wait_for(lambda: sum(r.get("ident") == "relay" for r in collector.records()) == 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
        tcp.stop()
        udp.stop()
    relayed = [r for r in collector.records() if r.get("ident") == "relay"]
    by_tag: dict[str, list[str]] = {}
    for r in relayed:
        by_tag.setdefault(r["tag"], []).append(r["message"])
    expected = [f"relayed {i}" for i in range(20)]
    # octet-counted 5424 + newline 3164; rsyslog's %msg% of a 3164 message keeps the space after "relay:"
    assert sorted(m.lstrip() for m in by_tag["rs.local1.notice"]) == sorted(expected * 2)
    assert sorted(by_tag["rsu.local1.notice"]) == sorted(expected)
    assert {"pri", "facility", "severity", "host"} <= set(relayed[0])


def _tcp(plugin: SyslogInput, data: bytes) -> socket.socket:
    sock = socket.create_connection(plugin.address, timeout=20)
    sock.sendall(data)
    return sock


def _closed(sock: socket.socket) -> bool:
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def test_framing_edge_cases_and_unmatched_lines(collector: Collector) -> None:
    plugin = start(SyslogInput, collector.emit, transport="tcp", tag="t", message_length_limit="1KiB")
    try:
        msg = b"<34>1 2003-10-11T22:14:15.003Z host su - ID47 - one"
        stream = b"%d %s" % (len(msg), msg) + b"<13>Oct 11 22:14:15 host app: two\r\n" + b"garbage line\n"
        with _tcp(plugin, stream[:10]) as sock:  # split mid-frame: waits for the rest
            sock.sendall(stream[10:])
            sock.sendall(b"<13>Oct 11 22:14:15 host app: last line without newline")
        assert wait_for(lambda: collector.count() == 4)
        with _tcp(plugin, b"99999999 " + b"x" * 10) as sock:  # a frame over message_length_limit
            assert _closed(sock)
        with _tcp(plugin, b"12x34 oops") as sock:  # not an octet count
            assert _closed(sock)
        with _tcp(plugin, b"<13>" + b"y" * 5000) as sock:  # a line over the limit, no newline
            assert _closed(sock)
        assert plugin.stats["bad_frame"] == 3
    finally:
        plugin.stop()
    records = collector.records()
    assert [r.get("message") for r in records[:2]] == ["one", "two"]
    assert (records[0]["tag"], records[0]["@timestamp"]) == ("t.auth.crit", "2003-10-11T22:14:15.003Z")
    assert records[2] == {"tag": "t.unmatched", "@timestamp": records[2]["@timestamp"],
                          "unmatched_line": "garbage line"}
    assert records[3]["message"] == "last line without newline"


def test_idle_and_half_sent_tcp_connections_are_closed(collector: Collector) -> None:
    plugin = start(SyslogInput, collector.emit, transport="tcp", idle_timeout="0.3s")
    try:
        with _tcp(plugin, b"120 <13>1 - - - - - - half") as half, _tcp(plugin, b"") as silent:
            assert _closed(half) and _closed(silent)
        assert plugin.stats["idle_closed"] == 2 and collector.count() == 0
    finally:
        plugin.stop()


def test_udp_drops_are_counted_while_the_buffers_push_back() -> None:
    block = threading.Event()
    block.set()
    blocked = Collector(block=block)
    plugin = start(SyslogInput, blocked.emit, transport="udp", queue_limit=200)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"<13>Oct 11 22:14:15 host app: " + b"z" * 300, plugin.address)
            assert wait_for(lambda: plugin.busy)
            for _ in range(5):
                sock.sendto(b"<13>Oct 11 22:14:15 host app: dropped", plugin.address)
            assert wait_for(lambda: plugin.stats["udp_dropped"] == 5)
            block.clear()
            assert wait_for(lambda: not plugin.busy)
            sock.sendto(b"<13>Oct 11 22:14:15 host app: after", plugin.address)
            assert wait_for(lambda: blocked.count() == 2)
    finally:
        block.clear()
        plugin.stop()
    assert blocked.records()[1]["message"] == "after"


def test_tls_transport(tmp_path: Path, collector: Collector) -> None:
    import ssl

    from tests.inputs.push_helpers import self_signed

    cert, key = self_signed(tmp_path)
    plugin = start(SyslogInput, collector.emit, transport="tls", tls_cert_path=cert, tls_key_path=key, tag="sec")
    try:
        ctx = ssl.create_default_context(cafile=cert)
        raw = socket.create_connection(plugin.address, timeout=20)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            msg = b"<38>1 2024-05-01T12:00:00Z web sshd - - - over tls"
            sock.sendall(b"%d %s" % (len(msg), msg))
        assert wait_for(lambda: collector.count() == 1)
    finally:
        plugin.stop()
    assert collector.records()[0]["tag"] == "sec.auth.info"
