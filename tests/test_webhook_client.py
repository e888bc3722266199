"""The webhook HTTP client (libcurl on the event loop) against real servers on loopback: what it
sends, which answers count, and the endpoints that misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization

from benchmarks._server import free_port
from gateway.delivery.webhook_client import Answer, PostFailed, WebhookClient
from gateway.protection.keys import self_signed

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Endpoint:
    """An aiohttp server on loopback that records what reached it and from which connection."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.peers: set[tuple[str, int]] = set()
        self.protocols: list[str | None] = []  # the ALPN choice of each request over TLS
        self._handler = handler
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((dict(request.headers), await request.read()))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.add(peer)
        tls = request.transport.get_extra_info("ssl_object") if request.transport else None
        if tls is not None:
            self.protocols.append(tls.selected_alpn_protocol())
        if self._handler is not None:
            return await self._handler(request)
        return web.Response(status=204)

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> str:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server(ssl=ssl_context)
        scheme = "https" if ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.server.port}/hook"


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    made = WebhookClient(timeout=2.0)
    yield made
    made.close()


@pytest.fixture
async def endpoints() -> AsyncIterator[list[Endpoint]]:
    started: list[Endpoint] = []
    yield started
    for endpoint in started:
        if endpoint.server is not None:
            await endpoint.server.close()


async def serve(endpoints: list[Endpoint], handler: Handler | None = None) -> tuple[Endpoint, str]:
    endpoint = Endpoint(handler)
    endpoints.append(endpoint)
    return endpoint, await endpoint.start()


async def test_the_body_and_headers_arrive_as_given_and_the_status_comes_back(
    client: WebhookClient, endpoints: list[Endpoint]
) -> None:
    endpoint, url = await serve(endpoints)
    body = bytes(range(256)) * 6000  # binary, NULs included; over the 1 MiB where curl would ask Expect
    answer = await client.post(url, body, {"Content-Type": "application/fhir+json", "webhook-id": "m1"})
    assert answer == Answer(204, 0)
    headers, received = endpoint.requests[0]
    assert received == body
    assert headers["Content-Type"] == "application/fhir+json"
    assert headers["webhook-id"] == "m1"
    assert headers["Content-Length"] == str(len(body))
    assert "Expect" not in headers  # no 100-continue round trip


async def test_connections_are_reused_and_capped(endpoints: list[Endpoint]) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.01)
        return web.Response(status=200)

    endpoint, url = await serve(endpoints, slow)
    with contextlib.closing(WebhookClient(timeout=5.0, max_connections=4)) as client:
        answers = await asyncio.gather(*(client.post(url, b"{}", {}) for _ in range(60)))
    assert [a.status for a in answers] == [200] * 60
    assert len(endpoint.requests) == 60
    assert 1 <= len(endpoint.peers) <= 4


@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_retry_after_is_read_in_either_form(
    client: WebhookClient, endpoints: list[Endpoint], form: str
) -> None:
    value = (
        "120"
        if form == "seconds"
        else format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    )

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": value})

    _, url = await serve(endpoints, busy)
    answer = await client.post(url, b"{}", {})
    assert answer.status == 503
    assert 110 <= answer.retry_after <= 120


async def test_a_redirect_is_an_answer_not_followed(client: WebhookClient, endpoints: list[Endpoint]) -> None:
    target, target_url = await serve(endpoints)

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": target_url})

    _, url = await serve(endpoints, redirect)
    assert (await client.post(url, b"{}", {})).status == 307
    assert target.requests == []


async def test_a_huge_answer_is_cut_off_and_its_status_counts(endpoints: list[Endpoint]) -> None:
    written: list[int] = []

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)  # chunked: no length to refuse it by in advance
        await response.prepare(request)
        written.append(0)
        with contextlib.suppress(ConnectionError):
            for _ in range(1600):  # 100 MiB, unless the client hangs up first
                await response.write(b"x" * 65536)
                written[-1] += 1
        return response

    _, url = await serve(endpoints, huge)
    with contextlib.closing(WebhookClient(timeout=5.0, max_answer=64 * 1024)) as client:
        assert (await client.post(url, b"{}", {})).status == 200
        assert (await client.post(url, b"{}", {})).status == 200  # the handle is fine afterwards
    # the client hung up after 64 KiB; what the server got written first sat in socket buffers
    assert len(written) == 2 and max(written) < 400


async def _silent(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(30)
    return web.Response(status=200)


async def _trickling(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(status=200)  # the status comes at once, the body never ends
    await response.prepare(request)
    for _ in range(300):
        await response.write(b"x")
        await asyncio.sleep(0.05)
    return response


@pytest.mark.parametrize("handler", [_silent, _trickling], ids=["silent", "trickling"])
async def test_an_endpoint_too_slow_to_answer_times_out(endpoints: list[Endpoint], handler: Handler) -> None:
    _, url = await serve(endpoints, handler)
    with (
        contextlib.closing(WebhookClient(timeout=0.4)) as client,
        pytest.raises(PostFailed, match="TimeoutError: no answer within the request timeout"),
    ):
        await client.post(url, b"{}", {})


async def test_nobody_listening_is_a_connection_error(client: WebhookClient) -> None:
    with pytest.raises(PostFailed, match="ConnectionError: could not connect"):
        await client.post(f"http://127.0.0.1:{free_port()}/hook", b"{}", {})


async def test_a_proxy_in_the_environment_is_not_used(
    endpoints: list[Endpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    endpoint, url = await serve(endpoints)
    with contextlib.closing(WebhookClient(timeout=2.0)) as client:
        assert (await client.post(url, b"{}", {})).status == 204
    assert len(endpoint.requests) == 1


def _tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = self_signed("127.0.0.1", kind="rsa")
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


async def test_tls_is_checked_against_the_trust_python_uses(
    endpoints: list[Endpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file = _tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    # offered as most HTTPS servers do; the client speaks HTTP/1.1, the one version tested here
    context.set_alpn_protocols(["h2", "http/1.1"])
    endpoint = Endpoint()
    endpoints.append(endpoint)
    url = await endpoint.start(context)

    with (
        contextlib.closing(WebhookClient(timeout=2.0)) as untrusting,
        pytest.raises(PostFailed, match="CertificateError"),
    ):
        await untrusting.post(url, b"{}", {})
    assert endpoint.requests == []

    # the certificate made trusted the way Python's own ssl module is told to trust one
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with contextlib.closing(WebhookClient(timeout=2.0)) as trusting:
        assert (await trusting.post(url, b"{}", {})).status == 204
    assert len(endpoint.requests) == 1
    assert endpoint.protocols == ["http/1.1"]


async def test_a_cancelled_post_stops_its_transfer_and_the_client_goes_on(endpoints: list[Endpoint]) -> None:
    gone = asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client hangs up
            gone.set()
            raise
        return web.Response(status=200)

    _, held_url = await serve(endpoints, hold)
    _, url = await serve(endpoints)
    client = WebhookClient(timeout=60.0)  # so only the cancellation can end the held request soon
    waiting = asyncio.create_task(client.post(held_url, b"{}", {}))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    async with asyncio.timeout(5):
        await gone.wait()
    answers = await asyncio.gather(*(client.post(url, b"{}", {}) for _ in range(5)))
    client.close()
    assert [a.status for a in answers] == [204] * 5


async def test_an_endpoint_named_by_host_name_is_reached(
    client: WebhookClient, endpoints: list[Endpoint]
) -> None:
    """Names are resolved by curl's threaded resolver, which it watches through the same socket
    callbacks as its connections: a lookup never blocks the event loop."""
    endpoint, url = await serve(endpoints)
    assert (await client.post(url.replace("127.0.0.1", "localhost"), b"{}", {})).status == 204
    assert len(endpoint.requests) == 1


async def test_only_http_and_https_are_spoken(client: WebhookClient) -> None:
    with pytest.raises(PostFailed, match="unsupported protocol"):
        await client.post(f"ftp://127.0.0.1:{free_port()}/hook", b"{}", {})
