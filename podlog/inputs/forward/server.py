"""The ``forward`` input: Fluentd's forward protocol over TCP, for fluent-logger libraries, Fluentd and Fluent Bit.

Each connection decodes MessagePack as it arrives (all four event modes, see
``protocol``) and hands every message's events over as one batch. A message
with ``option.chunk`` gets its ``{"ack": chunk}`` only once the batch is
acknowledged (durably buffered, or delivered with a memory buffer); acks may be
outstanding on a connection while the next chunks arrive. Anything that is not
the protocol closes the connection, counted and logged: the client's
unacknowledged chunks are sent again by the client.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, ClassVar

import msgpack

from podlog.config.options import Option
from podlog.inputs._push import PushInput, document, rfc3339
from podlog.inputs.forward.protocol import ProtocolError, decode_entries, event_time, helo, new_nonce, pong, unpacker

__all__ = ["ForwardInput"]

_DECODE_ERRORS = (ProtocolError, ValueError, TypeError, msgpack.UnpackException, UnicodeError, RecursionError)
MAX_OUTSTANDING_ACKS = 64  # per connection; beyond it, reading waits for acks


class ForwardInput(PushInput):
    """Receives the Fluentd forward protocol (fluent-logger, Fluentd out_forward, Fluent Bit, Docker's driver)."""

    name: ClassVar[str] = "forward"

    class Options(PushInput.Options):
        port = Option("int", 24224, doc="TCP port to listen on.")
        add_tag_prefix = Option("str", "", doc="Prefix added to every received tag (with a dot).")
        shared_key = Option("str", "", doc="Require Fluentd's shared-key handshake (HELO/PING/PONG) with this key "
                            "(Fluentd's <security> shared_key).")
        self_hostname = Option("str", "", doc="Hostname this server gives in the handshake (default: the host's).")
        chunk_size_limit = Option("size", 32 * 1024 * 1024, doc="Largest message (and decompressed chunk) "
                                  "accepted; a larger one closes the connection.")
        source_address_key = Option("str", "", doc="Add the client's IP address under this field.")
        skip_invalid_event = Option("bool", True, doc="Events whose time or record is malformed are skipped "
                                    "(counted and logged); the rest of the message is kept.")
        chunk_size_warn_limit = Option("size", 0, doc="Fluentd: warn about chunks larger than this.",
                                       ignored="large chunks are not warned about; chunk_size_limit "
                                       "still refuses them.")
        linger_timeout = Option("duration", 0.0, doc="Fluentd: SO_LINGER on closed sockets.",
                                ignored="connections are closed without lingering.")
        resolve_hostname = Option("bool", False, doc="Fluentd: resolve client addresses to names.",
                                  ignored="client addresses are not resolved to names.")
        send_keepalive_packet = Option("bool", False, doc="Fluentd: TCP keepalive on connections.",
                                       ignored="no TCP keepalive packets are sent.")
        deny_keepalive = Option("bool", False, doc="Fluentd: refuse keepalive handshakes.",
                                ignored="keepalive is neither offered nor denied.")

    options: Options

    def __init__(self, options: Any, **context: Any) -> None:
        super().__init__(options, **context)
        self.hostname = options.self_hostname or socket.gethostname()
        self.prefix = f"{options.add_tag_prefix}." if options.add_tag_prefix else ""

    def sample(self, line: bytes, tag: str) -> tuple[str, list[bytes]]:
        return super().sample(line, self.prefix + tag)

    async def listen(self) -> None:
        await self.serve_tcp(self._connection)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        o = self.options
        nonce = b""
        if o.shared_key:
            nonce = new_nonce()
            writer.write(helo(nonce))
        authenticated = not o.shared_key
        unp = None  # made at the first byte: an idle connection holds no decode buffer
        acks: set[asyncio.Task[None]] = set()
        peer = writer.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else ""
        try:
            while True:
                await self.room()
                try:
                    data = await self.read(reader)
                except TimeoutError:
                    if acks:
                        continue  # the client waits for our acks: not idle
                    self.note("idle_closed", "connection idle (or a frame left half-sent) for idle_timeout: closed")
                    return
                if not data:
                    return
                if unp is None:
                    unp = unpacker(o.chunk_size_limit)
                try:
                    unp.feed(data)
                except msgpack.BufferFull:
                    self.note("too_large", "a message over chunk_size_limit (%d bytes): connection closed",
                              o.chunk_size_limit)
                    return
                try:
                    for message in unp:
                        if not authenticated:
                            authenticated, answer = pong(message, nonce, o.shared_key, self.hostname)
                            writer.write(answer)
                            if not authenticated:
                                self.note("auth_failed", "shared-key handshake failed from %s", address)
                                await writer.drain()
                                return
                            continue
                        if not await self._message(message, writer, address, acks):
                            return
                except _DECODE_ERRORS as exc:
                    self.note("bad_frame", "not the forward protocol from %s (%s): connection closed", address,
                              str(exc)[:200])
                    return
                await writer.drain()
        finally:
            if acks:  # let outstanding acks go out before the connection closes
                await asyncio.wait(acks, timeout=o.ack_timeout)

    async def _message(self, message: Any, writer: asyncio.StreamWriter, address: str,
                       acks: set[asyncio.Task[None]]) -> bool:
        tag, entries, option = decode_entries(message, self.options.chunk_size_limit)
        docs, size = self._documents(entries, address)
        chunk = option.get("chunk")
        if not chunk:
            await self.accept(self.prefix + tag, docs, size, wait=False)
            return True
        if len(acks) >= MAX_OUTSTANDING_ACKS:
            await asyncio.wait(acks, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.ensure_future(self._ack(self.prefix + tag, docs, size, chunk, writer))
        acks.add(task)
        task.add_done_callback(acks.discard)
        return True

    async def _ack(self, tag: str, docs: list[bytes], size: int, chunk: Any, writer: asyncio.StreamWriter) -> None:
        if await self.accept(tag, docs, size, wait=True):
            writer.write(msgpack.packb({"ack": chunk}, use_bin_type=True))
        else:
            writer.transport.abort()  # no ack: the client sends the chunk again, here or elsewhere

    def _documents(self, entries: list[Any], address: str) -> tuple[list[bytes], int]:
        docs: list[bytes] = []
        size = 0
        key = self.options.source_address_key
        bad = 0
        for entry in entries:
            if type(entry) is not list or len(entry) != 2:
                bad += 1
                continue
            t, record = entry
            when = event_time(t)
            if when is None or not isinstance(record, dict):
                bad += 1
                continue
            if key:
                record[key] = address
            doc = document(rfc3339(*when), record)
            docs.append(doc)
            size += len(doc) + 1
        if bad:
            if not self.options.skip_invalid_event:
                raise ProtocolError(f"{bad} malformed events")
            self.stats["invalid_event"] += bad - 1
            self.note("invalid_event", "events without a valid time or record map skipped")
        return docs, size
