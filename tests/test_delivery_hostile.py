"""Subscribers that misbehave: redirects, huge answers, bad TLS certificates. None stalls delivery."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization

from gateway.protection.keys import self_signed
from tests import builders as b
from tests.conftest import Client
from tests.test_delivery import Subscriber, subscribe, until

NURSING = "8100011"


async def deliveries(gw: Client, sub_id: str) -> list[dict[str, object]]:
    status, body = await gw.get_json(f"/subscriptions/{sub_id}/deliveries")
    assert status == 200
    return body["deliveries"]


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(fast_retry_gateway: Client) -> None:
    gw = fast_retry_gateway
    followed = Subscriber()
    await subscribe(gw, followed)  # the redirect's target: must never be reached through it
    redirecting = Subscriber(
        decide=lambda req, n: web.Response(status=302, headers={"Location": followed.url})
    )
    sub_id = await subscribe(gw, redirecting)
    await gw.post_event(b.message("A01", b.patient(), b.encounter("V1")))
    await until(lambda: len(redirecting.attempts) >= 2)
    assert len(followed.attempts) == 1  # its own delivery only
    assert (await deliveries(gw, sub_id))[0]["lastError"] == "HTTP 302"


async def test_a_huge_answer_is_not_read(fast_retry_gateway: Client) -> None:
    gw = fast_retry_gateway
    sub = Subscriber(decide=lambda req, n: web.Response(status=200, body=b"x" * (20 * 1024 * 1024)))
    sub_id = await subscribe(gw, sub)
    await gw.post_event(b.message("A01", b.patient(), b.encounter("V1")))
    await until(lambda: len(sub.received) == 1)
    for _ in range(100):  # the outcome is recorded just after the subscriber answered
        if (await deliveries(gw, sub_id))[0]["status"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert (await deliveries(gw, sub_id))[0]["status"] == "delivered"


async def test_an_endpoint_with_an_untrusted_certificate_is_retried_not_trusted(
    fast_retry_gateway: Client, tmp_path: Path
) -> None:
    gw = fast_retry_gateway
    cert, key = self_signed("127.0.0.1", kind="rsa")
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    reached = []

    async def handle(request: web.Request) -> web.Response:
        reached.append(1)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    body = {"herIds": [NURSING], "mode": "push", "endpoint": f"https://127.0.0.1:{server.port}/hook"}
    async with gw.session.post(gw.base + "/subscriptions", data=orjson.dumps(body)) as resp:
        sub_id = (await resp.json())["id"]
    await gw.post_event(b.message("A01", b.patient(), b.encounter("V1")))
    for _ in range(100):
        rows = await deliveries(gw, sub_id)
        if rows and rows[0]["attempts"]:
            break
        await asyncio.sleep(0.05)
    assert rows[0]["status"] in ("pending", "dead") and "Certificate" in str(rows[0]["lastError"])
    assert reached == []
    await server.close()
