"""The HTTP client that carries webhooks: libcurl (pycurl's multi interface) run on the event loop.

libcurl does the HTTP (1.1): connection reuse, TLS with certificate checks, the per-request
timeout, no redirects, no proxy from the environment. This module only joins its multi-socket
interface to asyncio (curl says which sockets to watch and when to wake it; the loop tells it
what happened) and turns a finished transfer into a status code or a reason. A request costs
13 – 46 % less CPU than with aiohttp's client, and the request is the largest part of a
delivery (docs/PERFORMANCE.md).

Only the status and Retry-After of an answer matter; its body is counted and dropped, and an
answer longer than `max_answer` (MAX_ANSWER_BYTES) is cut off (the status still counts).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import pycurl

USER_AGENT = "discharge-gateway"
MAX_ANSWER_BYTES = 64 * 1024  # of a subscriber's answer; past it the client hangs up
_READ, _WRITE = pycurl.POLL_IN, pycurl.POLL_OUT  # curl's poll values are bits: INOUT = IN | OUT
_BOTH = _READ | _WRITE

# The failures a subscriber's endpoint can cause, in words an operator can act on; others keep
# curl's own name. curl's message follows (the host and port at most: never the path).
_REASONS = {
    pycurl.E_COULDNT_RESOLVE_HOST: "DNS: host not found",
    pycurl.E_COULDNT_CONNECT: "ConnectionError: could not connect",
    pycurl.E_OPERATION_TIMEDOUT: "TimeoutError: no answer within the request timeout",
    pycurl.E_PEER_FAILED_VERIFICATION: "CertificateError: the endpoint's certificate is not trusted",
    pycurl.E_SSL_CONNECT_ERROR: "TLSError: handshake failed",
    pycurl.E_GOT_NOTHING: "ConnectionError: closed without an answer",
    pycurl.E_SEND_ERROR: "ConnectionError: sending failed",
    pycurl.E_RECV_ERROR: "ConnectionError: receiving failed",
    pycurl.E_UNSUPPORTED_PROTOCOL: "unsupported protocol",
}
_NAMES = {v: k for k, v in vars(pycurl).items() if k.startswith("E_") and isinstance(v, int)}


class PostFailed(Exception):
    """No HTTP answer: the reason, fit for the delivery's last error."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: int  # seconds the answer asked us to wait (Retry-After, either form); 0: none


class _Exchange:
    """One request in flight: who waits for it, and how much answer came."""

    __slots__ = ("future", "limit", "received")

    def __init__(self, future: asyncio.Future[Answer], limit: int) -> None:
        self.future, self.received, self.limit = future, 0, limit

    def write(self, data: bytes) -> int | None:
        self.received += len(data)
        return 0 if self.received > self.limit else None  # 0 stops the transfer (curl error 23)


class WebhookClient:
    def __init__(
        self, timeout: float, max_connections: int = 256, max_answer: int = MAX_ANSWER_BYTES
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout_ms = max(1, int(timeout * 1000))
        self._max_answer = max_answer
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._watch)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._set_timer)
        self._multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, max_connections)  # more wait in curl
        self._multi.setopt(pycurl.M_MAXCONNECTS, max_connections)  # idle ones kept for reuse
        self._idle: list[pycurl.Curl] = []  # easy handles between requests (they keep their options)
        self._busy: dict[pycurl.Curl, _Exchange] = {}
        self._watched: dict[int, int] = {}  # fd → the _READ/_WRITE bits asked for
        self._timer: asyncio.TimerHandle | None = None
        # the trust Python's ssl module uses by default (the system's, or SSL_CERT_FILE/DIR), not
        # the one compiled into the libcurl that came with the wheel
        paths = ssl.get_default_verify_paths()
        self._cafile, self._capath = paths.cafile, paths.capath

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to `url` and wait for the answer's status; PostFailed when none came."""
        handle = self._idle.pop() if self._idle else self._new_handle()
        exchange = _Exchange(self._loop.create_future(), self._max_answer)
        handle.setopt(pycurl.URL, url)
        handle.setopt(pycurl.POSTFIELDS, body)
        # "Expect:" turns off curl's 100-continue round for larger bodies
        handle.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in headers.items()] + ["Expect:"])
        handle.setopt(pycurl.WRITEFUNCTION, exchange.write)
        self._busy[handle] = exchange
        self._multi.add_handle(handle)
        try:
            return await exchange.future
        finally:
            # still ours: cancelled mid-transfer, so stop it (once finished, the handle may
            # already carry another request)
            if self._busy.get(handle) is exchange:
                del self._busy[handle]
                self._multi.remove_handle(handle)
                self._idle.append(handle)

    def close(self) -> None:
        for handle, exchange in list(self._busy.items()):
            self._multi.remove_handle(handle)
            exchange.future.cancel()
        self._busy.clear()
        if self._timer is not None:
            self._timer.cancel()
        for fd in list(self._watched):
            self._watch(pycurl.POLL_REMOVE, fd, self._multi, None)
        for handle in self._idle:
            handle.close()
        self._idle.clear()
        self._multi.close()

    def _new_handle(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.TIMEOUT_MS, self._timeout_ms)  # the whole exchange, answer included
        handle.setopt(pycurl.FOLLOWLOCATION, 0)  # a redirect is an answer, and not a 2xx
        handle.setopt(pycurl.PROXY, "")  # "" = no proxy, whatever the environment says
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        # HTTP/1.1 even where the endpoint offers h2 (curl's default over TLS): one request per
        # connection at a time, as each subscriber's budget counts them, and the version tested
        handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        handle.setopt(pycurl.USERAGENT, USER_AGENT)
        if self._cafile and os.path.exists(self._cafile):
            handle.setopt(pycurl.CAINFO, self._cafile)
        if self._capath and os.path.isdir(self._capath):
            handle.setopt(pycurl.CAPATH, self._capath)
        return handle

    def _watch(self, what: int, fd: int, multi: object, data: object) -> None:
        """curl's socket callback: which events of `fd` it wants to hear about now."""
        old = self._watched.get(fd, 0)
        new = what & _BOTH  # POLL_IN 1, POLL_OUT 2, POLL_INOUT 3; POLL_REMOVE (4) and NONE (0): none
        if old & _READ and not new & _READ:
            self._loop.remove_reader(fd)
        if old & _WRITE and not new & _WRITE:
            self._loop.remove_writer(fd)
        if new & _READ and not old & _READ:
            self._loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
        if new & _WRITE and not old & _WRITE:
            self._loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)
        if new:
            self._watched[fd] = new
        else:
            self._watched.pop(fd, None)

    def _set_timer(self, ms: int) -> None:
        """curl's timer callback: wake it after `ms` (-1: never)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ms >= 0:
            self._timer = self._loop.call_later(ms / 1000, self._act, pycurl.SOCKET_TIMEOUT, 0)

    def _act(self, fd: int, events: int) -> None:
        self._multi.socket_action(fd, events)
        while True:
            queued, done, failed = self._multi.info_read()
            for handle in done:
                self._finish(handle, None)
            for handle, code, message in failed:
                self._finish(handle, (code, message))
            if not queued:
                return

    def _finish(self, handle: pycurl.Curl, error: tuple[int, str] | None) -> None:
        self._multi.remove_handle(handle)
        exchange = self._busy.pop(handle, None)
        if exchange is None:
            return
        self._idle.append(handle)  # curl drops a connection that failed, not the handle
        if exchange.future.done():
            return
        if error is None or (error[0] == pycurl.E_WRITE_ERROR and exchange.received > exchange.limit):
            status = handle.getinfo(pycurl.RESPONSE_CODE)
            exchange.future.set_result(Answer(status, handle.getinfo(pycurl.RETRY_AFTER)))
            return
        code, message = error
        reason = _REASONS.get(code, _NAMES.get(code, f"curl error {code}"))
        exchange.future.set_exception(PostFailed(f"{reason} ({message})" if message else reason))
