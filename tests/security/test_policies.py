"""One scope table for every route (default deny), open health checks, per-client rate limits,
and development tokens minted by `gateway token`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.auth.policy import OPEN, POLICIES, policy_for
from gateway.auth.scopes import ALL
from tests import builders as b
from tests.conftest import Client, auth_headers, running, settings_for


def _served(tmp_path: Path) -> set[tuple[str, str]]:
    app = build_app(settings_for(tmp_path))
    return {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD" and r.resource
    }


def test_every_served_route_has_a_policy(tmp_path: Path) -> None:
    """A route added without a line in gateway/auth/policy.py fails here (and is refused when served)."""
    missing = {route for route in _served(tmp_path) if policy_for(*route) is None}
    assert not missing, f"routes without an access policy: {sorted(missing)}"
    assert all(scope == OPEN or scope in ALL for scope in POLICIES.values())


async def test_a_route_without_a_policy_is_refused_even_with_an_admin_token(tmp_path: Path) -> None:
    """Default deny: a handler registered without a policy answers 403 to everyone."""
    from aiohttp import web

    app = build_app(settings_for(tmp_path))

    async def secret(_: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app.router.add_get("/unlisted", secret)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession(headers=auth_headers(settings_for(tmp_path))) as session,
            session.get(str(server.make_url("/unlisted"))) as resp,
        ):
            assert resp.status == 403
            assert b"leaked" not in await resp.read()
    finally:
        await server.close()


async def test_every_protected_route_wants_a_token_and_health_does_not(
    gateway: Client, tmp_path: Path
) -> None:
    """Without a token every route but the open ones answers 401 with a Bearer challenge."""
    async with aiohttp.ClientSession() as anonymous:
        for method, path in sorted(_served(tmp_path)):
            url = gateway.base + path.replace("{her_id}", "8100011").replace("{stay_id}", "1")
            url = url.replace("{message_id}", "m").replace("{subscription_id}", "s")
            async with anonymous.request(method, url) as resp:
                if policy_for(method, path) == OPEN:
                    assert resp.status == 200, path
                else:
                    assert resp.status == 401, (method, path)
                    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_client_over_its_rate_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    """A token bucket per client id: past the burst the client waits; another client is not affected."""
    settings = settings_for(tmp_path, rate_limit_per_second=1, rate_limit_burst=3)
    async with running(settings) as gw:
        busy = auth_headers(settings, client_id="busy", scopes=["gateway:messages.read"], her_ids=["8100011"])
        calm = auth_headers(settings, client_id="calm", scopes=["gateway:messages.read"], her_ids=["8100011"])
        statuses = []
        for _ in range(5):
            async with gw.session.get(gw.base + "/feed/8100011", headers=busy) as resp:
                statuses.append(resp.status)
                retry = resp.headers.get("Retry-After")
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        assert retry is not None and int(retry) >= 1
        async with gw.session.get(gw.base + "/feed/8100011", headers=calm) as resp:
            assert resp.status == 200


async def test_gateway_token_mints_a_token_the_development_gateway_accepts(gateway: Client) -> None:
    """`gateway token --org … --scope …` against the gateway's data dir gives a working bearer token."""
    minted = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "token",
            "--org",
            "8000001",
            "--scope",
            "gateway:events.post",
            "--data-dir",
            str(gateway.settings.data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    body = orjson.dumps(b.message("A01", b.patient(), b.encounter("T1")))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {minted}"}) as session:
        async with session.post(gateway.base + "/fhir/$process-message", data=body) as resp:
            assert resp.status == 200
        async with session.get(gateway.base + "/feed/8100011") as resp:
            assert resp.status == 403  # the scope it was given is the only one it has
    async with (
        aiohttp.ClientSession() as session,
        session.get(gateway.base + "/.well-known/jwks.json") as resp,
    ):
        jwks = await resp.json(content_type=None)
    assert [k["kty"] for k in jwks["keys"]] == ["EC"] and "d" not in jwks["keys"][0]  # public half only
