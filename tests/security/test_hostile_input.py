"""The classic attack inputs at every door: each refused quickly, and the gateway keeps answering."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.app import build_app, server_options
from gateway.config import Settings
from tests import builders as b
from tests.attacks import billion_laughs
from tests.conftest import Client, auth_headers, settings_for

FHIR = "/fhir/$process-message"
XML = {"Content-Type": "application/fhir+xml"}

BILLION_LAUGHS = billion_laughs(
    "Bundle", '<Bundle xmlns="http://hl7.org/fhir"><id value="&lol9;"/><type value="message"/></Bundle>'
)


def xxe(system_id: str) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE Bundle [ <!ENTITY xxe SYSTEM "{system_id}"> ]>
<Bundle xmlns="http://hl7.org/fhir"><id value="&xxe;"/><type value="message"/></Bundle>""".encode()


def external_dtd(url: str) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE Bundle SYSTEM "{url}">
<Bundle xmlns="http://hl7.org/fhir"><type value="message"/></Bundle>""".encode()


async def _post(
    gw: Client, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    async with gw.session.post(gw.base + path, data=body, headers=headers or {}) as resp:
        return resp.status, await resp.read(), time.perf_counter() - started


async def _still_serving(gw: Client) -> None:
    status, _ = await gw.post_event(b.message("A01", b.patient(), b.encounter(f"ok{time.monotonic_ns()}")))
    assert status == 200


@pytest.fixture
async def canary() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server that records any request: the gateway must never fetch anything from it."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="<!ENTITY x 'fetched'>")

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/")), hits
    await server.close()


async def test_billion_laughs_is_refused_without_expansion(gateway: Client) -> None:
    """Nested entity definitions are not expanded: a quick 4xx, nothing of the 'lol' payload back."""
    status, body, seconds = await _post(gateway, FHIR, BILLION_LAUGHS, XML)
    assert 400 <= status < 500 and seconds < 2
    assert b"lollol" not in body
    await _still_serving(gateway)


async def test_xxe_reads_neither_files_nor_the_network(
    gateway: Client, tmp_path: Path, canary: tuple[str, list[str]]
) -> None:
    """External entities and DTDs pointing at a local file or a URL are not fetched or echoed."""
    url, hits = canary
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE-CONTENT")
    for body in (
        xxe(secret.as_uri()),
        xxe("file:///etc/passwd"),
        xxe(url + "entity"),
        external_dtd(url + "dtd"),
    ):
        status, answer, seconds = await _post(gateway, FHIR, body, XML)
        assert 400 <= status < 500 and seconds < 2
        assert b"TOP-SECRET" not in answer and b"root:" not in answer and b"fetched" not in answer
    assert hits == []
    await _still_serving(gateway)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (FHIR, "application/fhir+json"),
        ("/receipts", "application/fhir+json"),
        ("/subscriptions", "application/json"),
    ],
)
async def test_deeply_nested_json_is_refused_quickly(gateway: Client, path: str, content_type: str) -> None:
    """100 000 levels of nesting (within the size limit) are refused before anything is built."""
    body = b"[" * 100_000 + b"]" * 100_000
    status, _, seconds = await _post(gateway, path, body, {"Content-Type": content_type})
    assert status in (400, 413, 422) and seconds < 2
    await _still_serving(gateway)


@pytest.mark.parametrize("path", [FHIR, "/hl7v2", "/receipts", "/subscriptions"])
async def test_a_50_mb_body_is_refused_with_413(gateway: Client, path: str) -> None:
    """A body ten times the limit is refused without being read in full, at every door that takes one."""
    body = b"{" + b" " * (50 * 1024 * 1024) + b"}"
    status, _, seconds = await _post(gateway, path, body, {"Content-Type": "application/fhir+json"})
    assert status == 413 and seconds < 5
    await _still_serving(gateway)


async def test_slow_clients_are_cut_off_and_others_are_served_meanwhile(tmp_path: Path) -> None:
    """Ten clients trickling their headers a byte at a time and one trickling its body are closed
    after the configured deadlines; while they hang on, a normal client is answered promptly."""
    settings = settings_for(tmp_path, http_idle_timeout=2, request_body_timeout=1)
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server(**server_options(settings))
    token = auth_headers(settings)["Authorization"]
    try:

        async def trickle_headers() -> float:
            started = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    if reader.at_eof():
                        break
                    await asyncio.sleep(0.1)
                await asyncio.wait_for(reader.read(), 10)  # EOF once the server closes
            except ConnectionError:
                pass
            finally:
                writer.close()
            return time.monotonic() - started

        async def trickle_body() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            head = (
                f"POST {FHIR} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
                "Content-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n"
            )
            writer.write(head.encode())
            try:
                for _ in range(100):
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.1)
                    if reader.at_eof() or reader._buffer:  # type: ignore[attr-defined]
                        break
                return await asyncio.wait_for(reader.read(4096), 10)
            except ConnectionError:
                return b""
            finally:
                writer.close()

        slow = [asyncio.create_task(trickle_headers()) for _ in range(10)]
        body = asyncio.create_task(trickle_body())
        await asyncio.sleep(0.5)
        async with running_client(settings, server) as gw:
            for _ in range(5):
                started = time.perf_counter()
                await _still_serving(gw)
                assert time.perf_counter() - started < 1
        held = await asyncio.gather(*slow)
        assert all(seconds < 6 for seconds in held)  # cut off after ~2 s, not when they chose to stop
        assert b"408" in (await body).split(b"\r\n")[0]
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def running_client(settings: Settings, server: TestServer) -> AsyncIterator[Client]:
    """A Client with an administrator's token for an already running TestServer."""
    async with aiohttp.ClientSession(headers=auth_headers(settings)) as session:
        yield Client(str(server.make_url("")).rstrip("/"), session, settings)
