"""The Fluentd forward protocol (v1) as data: event modes, EventTime, options and the shared-key handshake.

Messages are MessagePack arrays (Forward Protocol Specification v1):

- Message: ``[tag, time, record]`` or ``[tag, time, record, option]``
- Forward: ``[tag, [[time, record], ...], option?]``
- PackedForward: ``[tag, bin, option?]``, bin holding ``[time, record]`` entries back to back
- CompressedPackedForward: the same with ``option.compressed == "gzip"`` and the bin gzipped

``time`` is an integer (seconds) or EventTime, extension type 0 with 32-bit
big-endian seconds and nanoseconds. ``option.chunk`` asks for ``{"ack": chunk}``
once the events are safe. Before data, a server with a shared key sends HELO
and checks the client's PING (a SHA-512 of salt, hostname, nonce and key),
answering PONG with its own digest. Nothing here does I/O.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import msgpack

__all__ = ["EventTime", "ProtocolError", "decode_entries", "ext_hook", "helo", "pong", "unpacker"]

_EVENT_TIME = struct.Struct(">II")


class ProtocolError(Exception):
    """A frame that does not follow the protocol: the connection is closed."""


class EventTime(NamedTuple):
    sec: int
    nsec: int


def ext_hook(code: int, data: bytes) -> Any:
    if code == 0 and len(data) == 8:
        return EventTime(*_EVENT_TIME.unpack(data))
    raise ProtocolError(f"unknown MessagePack extension type {code} ({len(data)} bytes)")


def unpacker(max_buffer_size: int) -> msgpack.Unpacker:
    """A streaming decoder; strings that are not UTF-8 survive as surrogates (fixed when serialised)."""
    return msgpack.Unpacker(raw=False, ext_hook=ext_hook, max_buffer_size=max_buffer_size,
                            unicode_errors="surrogateescape", strict_map_key=False)


def event_time(value: Any) -> tuple[int, int] | None:
    """(seconds, nanoseconds) of a forward time value, or None if it is not one."""
    if type(value) is EventTime:
        return value.sec, value.nsec
    if type(value) is int:
        return value, 0
    if type(value) is float:
        ns = int(value * 1e9)
        return ns // 1_000_000_000, ns % 1_000_000_000
    return None


def _packed(data: Any, compressed: Any, limit: int) -> Iterator[Any]:
    if isinstance(data, str):  # v0 senders pack the stream as a str: back to its bytes
        data = data.encode("utf-8", "surrogateescape")
    if not isinstance(data, bytes):
        raise ProtocolError("PackedForward entries must be bin")
    if compressed == "gzip":
        data = _gunzip(data, limit)
    elif compressed not in (None, "text"):
        raise ProtocolError(f"unknown compression {compressed!r}")
    inner = msgpack.Unpacker(raw=False, ext_hook=ext_hook, unicode_errors="surrogateescape",
                             strict_map_key=False, max_buffer_size=max(len(data), 1))
    inner.feed(data)
    yield from inner


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member (senders may append one per flush), at most ``limit`` bytes out."""
    out: list[bytes] = []
    size = 0
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            piece = d.decompress(data, limit - size + 1)
        except zlib.error as exc:
            raise ProtocolError(f"bad gzip data: {exc}") from None
        size += len(piece)
        if size > limit or d.unconsumed_tail:
            raise ProtocolError(f"gzip data expands beyond chunk_size_limit ({limit} bytes)")
        if not d.eof:
            raise ProtocolError("truncated gzip data")
        out.append(piece)
        data = d.unused_data
    return b"".join(out)


def decode_entries(message: Any, limit: int) -> tuple[str, list[Any], dict[str, Any]]:
    """(tag, [[time, record], ...], option) of one message in any of the four modes."""
    if type(message) is not list or not 2 <= len(message) <= 4:
        raise ProtocolError(f"expected an array of 2 to 4 items, got {type(message).__name__}")
    tag = message[0]
    if not isinstance(tag, str) or not tag:
        raise ProtocolError("the tag must be a non-empty string")
    second = message[1]
    if type(second) is list:  # Forward mode (EventTime is a tuple, arrays decode as lists)
        option = message[2] if len(message) > 2 else None
        entries = list(second)
    elif isinstance(second, (bytes, str)) and len(message) <= 3:  # PackedForward, maybe compressed
        option = message[2] if len(message) > 2 else None
        if option is not None and not isinstance(option, dict):
            raise ProtocolError("the option must be a map")
        entries = list(_packed(second, (option or {}).get("compressed"), limit))
    elif len(message) >= 3:  # Message mode
        option = message[3] if len(message) > 3 else None
        entries = [[second, message[2]]]
    else:
        raise ProtocolError("unknown event mode")
    if option is not None and not isinstance(option, dict):
        raise ProtocolError("the option must be a map")
    return tag, entries, option or {}


# --- handshake (shared key) ---------------------------------------------------------


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha512()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()


def helo(nonce: bytes, keepalive: bool = True) -> bytes:
    """The server's greeting; ``auth`` is empty: no user/password authentication."""
    return msgpack.packb(["HELO", {"nonce": nonce, "auth": b"", "keepalive": keepalive}], use_bin_type=True)


def new_nonce() -> bytes:
    return os.urandom(16)


def pong(ping: Any, nonce: bytes, shared_key: str, hostname: str) -> tuple[bool, bytes]:
    """Check a client's PING; (accepted, the PONG to send)."""
    if not (isinstance(ping, (list, tuple)) and len(ping) == 6 and ping[0] == "PING"):
        return False, msgpack.packb(["PONG", False, "invalid ping message", hostname, ""])
    _, client_host, salt, digest, _user, _password = ping
    if isinstance(salt, str):
        salt = salt.encode("utf-8", "surrogateescape")
    if not isinstance(client_host, str) or not isinstance(salt, bytes) or not isinstance(digest, str):
        return False, msgpack.packb(["PONG", False, "invalid ping message", hostname, ""])
    expected = _digest(salt, client_host, nonce, shared_key)
    if not hmac.compare_digest(expected, digest):
        return False, msgpack.packb(["PONG", False, "shared_key mismatch", hostname, ""])
    return True, msgpack.packb(["PONG", True, "", hostname, _digest(salt, hostname, nonce, shared_key)])


def ping_digest(salt: bytes, hostname: str, nonce: bytes, shared_key: str) -> str:
    """What a client sends in PING (and the server in PONG, with its own hostname)."""
    return _digest(salt, hostname, nonce, shared_key)


def gzip_members(*parts: bytes) -> bytes:
    """Concatenated gzip members, as CompressedPackedForward senders write them (tests, bench)."""
    return b"".join(gzip.compress(p) for p in parts)
