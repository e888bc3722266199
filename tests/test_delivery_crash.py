"""Crash safety with real processes: kill -9 under load loses no accepted event and no message."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook

from benchmarks._server import dev_auth, free_port, start_gateway, wait_until_up
from tests import builders as b

NURSING = "8100011"
SCHEDULE = ",".join(["0.2"] * 100)  # short steps, many of them: the test waits seconds, not days


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.seen: list[str] = []  # webhook-ids in arrival order, duplicates included
        self.kinds: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)
        header = orjson.loads(body)["entry"][0]["resource"]
        self.seen.append(request.headers["webhook-id"])
        self.kinds[request.headers["webhook-id"]] = header["extension"][-1].get("valueCode", "")
        return web.Response(status=204)


async def _serve(receiver: Receiver, port: int) -> TestServer:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return server


async def _subscribe(session: aiohttp.ClientSession, base: str, endpoint: str) -> str:
    body = {"herIds": [NURSING], "mode": "push", "endpoint": endpoint}
    async with session.post(base + "/subscriptions", data=orjson.dumps(body)) as resp:
        assert resp.status == 201
        return str((await resp.json())["secret"])


@pytest.mark.slow
async def test_kill_9_under_load_with_live_and_absent_subscribers(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"GATEWAY_RETRY_SCHEDULE": SCHEDULE}
    proc = start_gateway(data_dir, port, free_port(), env=env)
    wait_until_up(base, proc)
    live, absent = Receiver(), Receiver()
    live_port, absent_port = free_port(), free_port()
    live_server = await _serve(live, live_port)
    absent_server: TestServer | None = None
    acknowledged: list[bytes] = []
    try:
        async with aiohttp.ClientSession(headers=dev_auth(data_dir)) as session:
            live.secret = await _subscribe(session, base, f"http://127.0.0.1:{live_port}/hook")
            absent.secret = await _subscribe(session, base, f"http://127.0.0.1:{absent_port}/hook")
            bodies = [orjson.dumps(b.message("A01", b.patient(), b.encounter(f"K{n}"))) for n in range(400)]

            async def client() -> None:
                while bodies:
                    body = bodies.pop()
                    try:
                        async with session.post(base + "/fhir/$process-message", data=body) as resp:
                            if resp.status == 200:
                                acknowledged.append(body)
                    except aiohttp.ClientError:
                        return

            clients = [asyncio.create_task(client()) for _ in range(4)]
            deadline = time.monotonic() + 60
            while len(acknowledged) < 100 or len(live.seen) < 20:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.gather(*clients)
            proc.wait()
            proc = start_gateway(data_dir, port, free_port(), env=env)
            wait_until_up(base, proc)
            async with session.get(base + f"/feed/{NURSING}?limit=500") as resp:
                feed = [e["messageId"] for e in (await resp.json())["entries"]]
            # one LOG_INNLAGT per acknowledged admission, plus at most one per client for events
            # committed whose answer the kill cut off (the sender resends; it is then a duplicate)
            assert len(acknowledged) <= len(feed) <= len(acknowledged) + 4
            deadline = time.monotonic() + 60
            while set(live.seen) < set(feed):
                assert time.monotonic() < deadline, "the live subscriber did not get everything"
                await asyncio.sleep(0.05)
            absent_server = await _serve(absent, absent_port)  # back after the whole run
            while set(absent.seen) < set(feed):
                assert time.monotonic() < deadline, "the returning subscriber did not get everything"
                await asyncio.sleep(0.05)
        assert set(live.seen) == set(feed) and set(absent.seen) == set(feed)
        # a duplicate can only be the one delivery in flight when the gateway died
        assert len(live.seen) - len(set(live.seen)) <= 1
        # one patient: first arrivals in exactly the feed's order, before and after the crash
        assert list(dict.fromkeys(live.seen)) == feed
        assert list(dict.fromkeys(absent.seen)) == feed
    finally:
        proc.kill()
        proc.wait()
        await live_server.close()
        if absent_server is not None:
            await absent_server.close()
