"""The MLLP listener: frames in, one handler call per message, the ACK framed back.

A Protocol, not streams: the handler is given a `reply` callback to call with the ACK, at once or
when it is ready, so a message costs callbacks and no task or future of its own (measured:
streams cost ≈ 5 × more per message, and each future in a chain another turn of the loop,
docs/PERFORMANCE.md).

Backpressure by construction: a connection's messages are handled one at a time, in order, and
while one waits for its answer the connection stops reading once a few more frames are buffered;
it stops too while the peer does not read its ACKs. Connections are capped, so a burst waits in
the senders' TCP buffers, not in our memory.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from adapters.hl7v2.framing import FrameDecoder, FrameError, frame

log = structlog.get_logger("mllp")

QUEUED_FRAMES = 8  # frames read ahead on one connection before it stops reading


@dataclass(frozen=True, slots=True)
class Peer:
    address: str
    certificate_subject: str | None = None
    common_name: str | None = None  # the client certificate's CN (mutual TLS), mapped to a sender


# The handler calls `reply` once per message with its ACK (None: no ACK wanted), now or later.
Reply = Callable[[bytes | None], None]
Handler = Callable[[bytes, Peer, Reply], None]
Admit = Callable[[Peer], bool]  # whether a connection from this peer is served at all


def _peer(transport: asyncio.BaseTransport) -> Peer:
    address = str(transport.get_extra_info("peername"))
    cert = transport.get_extra_info("peercert")
    if not cert:
        return Peer(address)
    pairs = [(k, v) for rdn in cert.get("subject", ()) for k, v in rdn]
    common_name = next((v for k, v in pairs if k == "commonName"), None)
    return Peer(address, ",".join(f"{k}={v}" for k, v in pairs), common_name)


@dataclass(slots=True)
class _Limits:
    handler: Handler
    max_frame_bytes: int
    max_connections: int
    idle_timeout: float
    admit: Admit | None
    open: int = 0


class _Connection(asyncio.Protocol):
    def __init__(self, limits: _Limits) -> None:
        self.limits = limits
        self.decoder = FrameDecoder(limits.max_frame_bytes)
        self.frames: deque[bytes] = deque()
        self.transport: asyncio.Transport | None = None
        self.peer = Peer("")
        self.waiting = False  # a message's answer is pending
        self.in_handler = False  # inside the handler call (an answer given at once needs no _next)
        self.write_blocked = False
        self.counted = False
        self.ended = False  # the peer sent its end of stream
        self.last_activity = time.monotonic()
        self.idle_timer: asyncio.TimerHandle | None = None

    # --- the transport's callbacks --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = _peer(transport)
        if self.limits.admit is not None and not self.limits.admit(self.peer):
            log.warning("mllp_refused", reason="client certificate not mapped to a sender")
            transport.close()
            return
        if self.limits.open >= self.limits.max_connections:
            log.warning("mllp_refused", reason="too many connections")
            transport.close()
            return
        self.limits.open += 1
        self.counted = True
        self._arm_idle_timer()

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        try:
            self.frames.extend(self.decoder.feed(data))
        except FrameError as exc:
            self._framing_error(exc)
            return
        self._next()

    def eof_received(self) -> bool | None:
        try:
            self.decoder.end()
        except FrameError as exc:
            self._framing_error(exc)
            return None
        self.ended = True
        self._next()
        # keep our side open to answer what was sent (TLS cannot half-close: it closes at once)
        return self.transport is not None and self.transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.limits.open -= 1
            self.counted = False
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.frames.clear()
        self.transport = None

    def pause_writing(self) -> None:
        self.write_blocked = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_blocked = False
        self._flow()

    # --- one message at a time ---------------------------------------------------------------

    def _next(self) -> None:
        while not self.waiting and self.frames and self.transport is not None:
            self.waiting = True
            self.in_handler = True
            try:
                self.limits.handler(self.frames.popleft(), self.peer, self._reply)
            except Exception as exc:  # a bug in the handler: this connection ends, the listener goes on
                log.error("mllp_handler_failed", error=type(exc).__name__)
                self.transport.close()
                return
            finally:
                self.in_handler = False
        if self.ended and not self.waiting and not self.frames and self.transport is not None:
            self.transport.close()  # the peer ended its side and everything it sent is answered
            return
        self._flow()

    def _reply(self, ack: bytes | None) -> None:
        self.waiting = False
        self._send(ack)
        if not self.in_handler:  # answered later: go on with the next frame (at once: _next does)
            self._next()

    def _send(self, ack: bytes | None) -> None:
        if ack is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(ack))
        self.last_activity = time.monotonic()

    def _flow(self) -> None:
        """Stop reading while frames queue up or the peer does not read its ACKs; go on after."""
        if self.transport is None or self.transport.is_closing():
            return
        should_pause = self.write_blocked or len(self.frames) >= QUEUED_FRAMES
        if should_pause == self.transport.is_reading():
            (self.transport.pause_reading if should_pause else self.transport.resume_reading)()

    def _framing_error(self, exc: FrameError) -> None:
        log.warning("mllp_framing_error", reason=str(exc))
        self.frames.clear()
        if self.transport is not None:
            self.transport.close()

    def _arm_idle_timer(self) -> None:
        # one timer per connection, re-armed when it fires, not on every read
        loop = asyncio.get_running_loop()
        self.idle_timer = loop.call_later(self.limits.idle_timeout, self._check_idle)

    def _check_idle(self) -> None:
        if self.transport is None:
            return
        idle = time.monotonic() - self.last_activity
        if idle >= self.limits.idle_timeout and not self.waiting:
            log.info("mllp_idle_closed")
            self.transport.close()
            return
        self.idle_timer = asyncio.get_running_loop().call_later(
            max(0.05, self.limits.idle_timeout - idle), self._check_idle
        )


async def start_mllp_server(
    handler: Handler,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_frame_bytes: int = 4 * 1024 * 1024,
    max_connections: int = 256,
    idle_timeout: float = 300.0,
    admit: Admit | None = None,
) -> asyncio.Server:
    limits = _Limits(handler, max_frame_bytes, max_connections, idle_timeout, admit)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(limits), host, port, ssl=ssl_context)
