"""Headless Chromium for tests of pages a person reads, through a token-adding forwarder.

A browser cannot be told to send a bearer token; a forwarder in front adds it, as a recipient's
own portal would, and passes the gateway's headers (the CSP) through unchanged, so the page is
rendered under the policy the gateway set.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_PASSED = ("content-type", "content-security-policy")


async def rendered_dom(base: str, path_and_query: str, headers: dict[str, str]) -> str:
    """The DOM Chromium builds for the gateway's page at `path_and_query`."""

    async def forward(request: web.Request) -> web.Response:
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(base + request.path_qs) as resp,
        ):
            kept = {k: v for k, v in resp.headers.items() if k.lower() in _PASSED}
            return web.Response(body=await resp.read(), status=resp.status, headers=kept)

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    forwarder = TestServer(app, host="127.0.0.1")
    await forwarder.start_server()
    try:
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
                str(forwarder.make_url(path_and_query)),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            async with asyncio.timeout(60):
                dom, _ = await proc.communicate()
    finally:
        await forwarder.close()
    return dom.decode()
