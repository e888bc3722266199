"""The message page in a real browser (headless Chromium): it renders, and its policy blocks nothing
the page needs. CI installs Chromium; elsewhere the test says it was skipped and why."""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests import builders as b
from tests.conftest import Client, auth_headers

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
async def test_the_page_renders_in_chromium(gateway: Client) -> None:
    meds_in = [b.medication("C09AA05", "Ramipril", "5 mg x 1", category="inpatient")]
    meds_out = [b.medication("C09AA05", "Ramipril", "10 mg x 1", reason="Blodtrykk over mål")]
    await gateway.post_event(b.message("A01", b.patient(), b.encounter(), *meds_in))
    await gateway.post_event(
        b.message(
            "A03",
            b.patient(),
            b.encounter(end="2026-11-07T11:00:00+01:00"),
            *meds_out,
            event_time="2026-11-07T11:00:00+01:00",
        )
    )
    entry = next(e for e in await gateway.feed("8200011") if e["messageType"] == "LEGEMIDDELLISTE")

    # A browser cannot be told to send a bearer token; a forwarder in front adds it, as a
    # recipient's own portal would, and passes the gateway's headers (the CSP) through unchanged.
    async def forward(request: web.Request) -> web.Response:
        passed = ("content-type", "content-security-policy")
        async with (
            aiohttp.ClientSession(headers=auth_headers(gateway.settings)) as session,
            session.get(gateway.base + request.path) as resp,
        ):
            headers = {k: v for k, v in resp.headers.items() if k.lower() in passed}
            return web.Response(body=await resp.read(), status=resp.status, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    forwarder = TestServer(app, host="127.0.0.1")
    await forwarder.start_server()
    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            str(forwarder.make_url(entry["page"])),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        dom, _ = await asyncio.wait_for(proc.communicate(), 60)
    await forwarder.close()
    text = dom.decode()
    assert "<h1>Legemiddelliste ved utskrivning</h1>" in text
    assert '<tr class="changed"><td>Endret</td><td>Ramipril</td>' in text
    assert "Må leses og følges opp av fastlegen." in text
