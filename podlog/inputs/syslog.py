"""The ``syslog`` input: RFC 5424 and RFC 3164 messages over UDP, TCP or TLS, as rsyslog and logger send them.

TCP frames are octet-counted (``LEN SP MSG``, RFC 6587) or end with a
newline; ``frame_type auto`` tells them apart per frame, as rsyslog's imtcp
does. Messages are parsed by the ``syslog`` parser; the tag is
``<tag>.<facility>.<severity>`` (Fluentd's in_syslog), a message without a
priority counts as user.notice (RFC 3164), and a message that does not parse is
kept as ``unmatched_line`` under ``<tag>.unmatched``. UDP has no way to push
back: a datagram arriving while the buffers are full is dropped, counted and
logged; TCP stops reading instead.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, ClassVar

from podlog.config.errors import Located
from podlog.config.options import Option
from podlog.inputs._push import PushInput, document, now_rfc3339
from podlog.parsers.syslog import SyslogParser

__all__ = ["SyslogInput"]


class SyslogInput(PushInput):
    """Receives syslog over UDP, TCP (octet-counted or newline framing) or TLS."""

    name: ClassVar[str] = "syslog"

    class Options(PushInput.Options):
        port = Option("int", 5140, doc="Port to listen on.")
        tag = Option("str", "syslog", doc="Tag prefix: records get <tag>.<facility>.<severity>.")
        transport = Option("str", "udp", doc="udp, tcp, or tls (tcp with the tls_* options).",
                           choices=("udp", "tcp", "tls"), aliases=("protocol_type",))
        message_format = Option("str", "auto", doc="auto (per message), rfc3164 or rfc5424.",
                                choices=("auto", "rfc3164", "rfc5424"))
        frame_type = Option("str", "auto", doc="TCP framing: auto (per frame), traditional (newline) or "
                            "octet_count (RFC 6587).", choices=("auto", "traditional", "octet_count"))
        message_length_limit = Option("size", 64 * 1024, doc="Longest message; a longer TCP frame closes the "
                                      "connection, a longer UDP datagram is cut to it.")
        source_address_key = Option("str", "", doc="Add the sender's IP address under this field.")
        emit_unmatched_lines = Option("bool", True, doc="Fluentd: keep lines that do not parse.",
                                      ignored="lines that do not parse are always kept, as unmatched_line "
                                      "under <tag>.unmatched.")

    options: Options

    def __init__(self, options: Any, **context: Any) -> None:
        if options.transport == "tls":
            options.tls = True
        super().__init__(options, **context)
        parser_options = SyslogParser.Options.from_mapping(
            {"message_format": options.message_format}, Located("<syslog input>", 0, ""), "")
        self.parser = SyslogParser(parser_options)

    async def listen(self) -> None:
        o = self.options
        if o.transport == "udp":
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(o.bind, o.port))
            self._servers.append(transport)
            self.address = transport.get_extra_info("sockname")[:2]
        else:
            await self.serve_tcp(self._connection)

    # --- records ---------------------------------------------------------------------

    def records(self, messages: list[bytes], address: str) -> dict[str, tuple[list[bytes], int]]:
        """Parsed messages as documents, grouped by tag."""
        out: dict[str, tuple[list[bytes], int]] = defaultdict(lambda: ([], 0))
        key = self.options.source_address_key
        base = self.options.tag
        now = now_rfc3339()
        for raw, parsed in zip(messages, self.parser.parse(messages), strict=True):
            if isinstance(parsed, dict):
                ts = parsed.pop("@timestamp", now)
                tag = f"{base}.{parsed.get('facility', 'user')}.{parsed.get('severity', 'notice')}"
                record = parsed
            else:
                ts, tag = now, f"{base}.unmatched"
                record = {"unmatched_line": raw.decode("utf-8", "replace")}
            if key:
                record[key] = address
            doc = document(ts, record)
            docs, size = out[tag]
            docs.append(doc)
            out[tag] = (docs, size + len(doc) + 1)
        return out

    def source_tag(self) -> str:
        return str(self.options.tag)

    def may_tag(self, tag: str) -> bool:
        return tag.startswith(f"{self.options.tag}.")

    def sample(self, line: bytes, tag: str) -> tuple[str, list[bytes]]:
        """A sample line parsed as a received message (its tag comes from its priority)."""
        [(found, (docs, _))] = self.records([line.rstrip(b"\r\n")], "127.0.0.1").items()
        return found, docs

    def _hand_over(self, messages: list[bytes], address: str) -> None:
        for tag, (docs, size) in self.records(messages, address).items():
            self.submit(tag, docs, size)

    # --- TCP ---------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else ""
        buf = bytearray()
        while True:
            await self.room()
            try:
                data = await self.read(reader)
            except TimeoutError:
                self.note("idle_closed", "connection idle (or a frame left half-sent) for idle_timeout: closed")
                return
            if not data:
                if buf.strip() and not buf[:1].isdigit():
                    self._hand_over([bytes(buf).rstrip(b"\r\n\x00")], address)  # last line without newline
                return
            buf += data
            messages, error = self._frames(buf)
            if messages:
                self._hand_over(messages, address)
            if error:
                self.note("bad_frame", "%s from %s: connection closed", error, address)
                return

    def _frames(self, buf: bytearray) -> tuple[list[bytes], str]:
        """Complete messages cut from the front of ``buf``; an error closes the connection."""
        limit = self.options.message_length_limit
        framing = self.options.frame_type
        out: list[bytes] = []
        while buf:
            if framing == "octet_count" or (framing == "auto" and 48 <= buf[0] <= 57):
                space = buf.find(b" ", 0, 12)
                if space < 0:
                    return out, "" if len(buf) < 12 and buf.isdigit() else "malformed octet count"
                if not buf[:space].isdigit():
                    return out, "malformed octet count"
                n = int(buf[:space])
                if n > limit:
                    return out, f"frame of {n} bytes over message_length_limit ({limit})"
                end = space + 1 + n
                if len(buf) < end:
                    return out, ""
                message = bytes(buf[space + 1:end])
                del buf[:end]
            else:
                nl = buf.find(b"\n")
                if nl < 0:
                    return out, f"line over message_length_limit ({limit})" if len(buf) > limit else ""
                message = bytes(buf[:nl])
                del buf[:nl + 1]
            message = message.rstrip(b"\r\n\x00")
            if message:
                out.append(message)
        return out, ""


class _Datagrams(asyncio.DatagramProtocol):
    """One message per datagram (trailing newlines dropped), as RFC 5426 has it."""

    def __init__(self, owner: SyslogInput) -> None:
        self.owner = owner
        self.pending: dict[str, list[bytes]] = defaultdict(list)  # by sender: datagrams of one loop turn

    def datagram_received(self, data: bytes, addr: Any) -> None:
        owner = self.owner
        if owner.busy:
            owner.note("udp_dropped", "buffers full: a UDP datagram dropped (UDP cannot push back)")
            return
        message = data[: owner.options.message_length_limit].rstrip(b"\r\n\x00")
        if message:
            if not self.pending:
                asyncio.get_running_loop().call_soon(self.flush)  # one batch per burst, not per datagram
            self.pending[addr[0] if isinstance(addr, tuple) else ""].append(message)

    def flush(self) -> None:
        pending, self.pending = self.pending, defaultdict(list)
        for address, messages in pending.items():
            self.owner._hand_over(messages, address)
