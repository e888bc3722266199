"""The MLLP listener: frames in, one handler call per message, the ACK framed back.

Backpressure by construction: a connection's next frame is not read before its ACK is
written, connections are capped, and a global semaphore caps messages in flight, so a burst
waits in the senders' TCP buffers, not in our memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from adapters.hl7v2.framing import FrameError, frame, read_frame

log = structlog.get_logger("mllp")


@dataclass(frozen=True, slots=True)
class Peer:
    address: str
    certificate_subject: str | None = None
    common_name: str | None = None  # the client certificate's CN (mutual TLS), mapped to a sender


Handler = Callable[[bytes, Peer], Awaitable[bytes | None]]
Admit = Callable[[Peer], bool]  # whether a connection from this peer is served at all


def _peer(writer: asyncio.StreamWriter) -> Peer:
    address = str(writer.get_extra_info("peername"))
    cert = writer.get_extra_info("peercert")
    if not cert:
        return Peer(address)
    pairs = [(k, v) for rdn in cert.get("subject", ()) for k, v in rdn]
    common_name = next((v for k, v in pairs if k == "commonName"), None)
    return Peer(address, ",".join(f"{k}={v}" for k, v in pairs), common_name)


async def start_mllp_server(
    handler: Handler,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_frame_bytes: int = 4 * 1024 * 1024,
    max_connections: int = 256,
    max_in_flight: int = 64,
    idle_timeout: float = 300.0,
    admit: Admit | None = None,
) -> asyncio.Server:
    connections = asyncio.Semaphore(max_connections)
    in_flight = asyncio.Semaphore(max_in_flight)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        if admit is not None and not admit(peer):
            log.warning("mllp_refused", reason="client certificate not mapped to a sender")
            writer.close()
            return
        if connections.locked():
            log.warning("mllp_refused", reason="too many connections")
            writer.close()
            return
        async with connections:
            try:
                while True:
                    async with asyncio.timeout(idle_timeout):
                        payload = await read_frame(reader, max_frame_bytes)
                    if payload is None:
                        break
                    async with in_flight:
                        ack = await handler(payload, peer)
                    if ack is not None:
                        writer.write(frame(ack))
                        await writer.drain()
            except FrameError as exc:
                log.warning("mllp_framing_error", reason=str(exc))
            except (TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, ssl.SSLError):
                    await writer.wait_closed()

    # the stream limit bounds readuntil: a frame over it is refused, not buffered
    return await asyncio.start_server(serve, host, port, ssl=ssl_context, limit=max_frame_bytes + 16)
