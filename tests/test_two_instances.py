"""Two gateway processes on one PostgreSQL database under steady load; one is killed with kill -9
midway. Nothing accepted is lost or processed twice, every message is delivered, a duplicate is
only a redelivery with the same webhook-id, and each patient's messages arrive in order."""

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
from benchmarks.bench_delivery import person_numbers
from tests import builders as b

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]

NURSING = "8100011"
PATIENTS = 60
# short steps and a short lease, so the test waits seconds: the dead instance's claims are free
# to take 2 s after it died (the lease is the request timeout + 1 s at least)
ENV = {
    "GATEWAY_RETRY_SCHEDULE": ",".join(["0.2"] * 50),
    "GATEWAY_DELIVERY_TIMEOUT": "1",
    "GATEWAY_DELIVERY_LEASE_SECONDS": "2",
}


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.seen: list[tuple[str, str]] = []  # (webhook-id, patient), in arrival order, duplicates too

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)
        bundle = orjson.loads(body)
        patient = next(
            e["resource"]["identifier"][0]["value"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Patient"
        )
        self.seen.append((request.headers["webhook-id"], patient))
        await asyncio.sleep(0.002)  # a subscriber that takes a moment: deliveries overlap the kill
        return web.Response(status=204)


def _events(person: str, n: int) -> list[bytes]:
    """One stay: admitted, then discharged a day later (two messages for home nursing)."""
    patient, stay = b.patient(person), b.encounter(f"TWO{n}")
    return [
        orjson.dumps(b.message("A01", patient, stay, event_time="2026-11-20T08:00:00+01:00")),
        orjson.dumps(b.message("A03", patient, stay, event_time="2026-11-21T12:00:00+01:00")),
    ]


async def test_kill_9_of_one_of_two_instances_under_load(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"  # shared: the instances share their keys (payload, signing, pseudonyms)
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    # started together on a new data directory: each key file is made once, both use it
    procs = [start_gateway(data_dir, port, free_port(), env=ENV) for port in ports]
    for base, proc in zip(bases, procs, strict=True):
        wait_until_up(base, proc)
    receiver, hook_port = Receiver(), free_port()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    hook = TestServer(app, host="127.0.0.1", port=hook_port)
    await hook.start_server()
    accepted: dict[str, bytes] = {}  # message id -> body, answered 200 by one instance or the other
    alive = [True, True]
    try:
        async with aiohttp.ClientSession(headers=dev_auth(data_dir)) as session:
            body = {"herIds": [NURSING], "mode": "push", "endpoint": f"http://127.0.0.1:{hook_port}/hook"}
            async with session.post(bases[0] + "/subscriptions", data=orjson.dumps(body)) as resp:
                assert resp.status == 201
                receiver.secret = (await resp.json())["secret"]
            people = person_numbers(PATIENTS)
            queue = list(enumerate(people))

            async def send(body: bytes, prefer: int) -> None:
                """Until one instance answers 200; a resend after a lost answer is a duplicate."""
                deadline = time.monotonic() + 30
                target = prefer
                while time.monotonic() < deadline:
                    if alive[target]:
                        try:
                            url = bases[target] + "/fhir/$process-message"
                            async with session.post(url, data=body) as resp:
                                if resp.status == 200:
                                    accepted[orjson.loads(body)["entry"][0]["resource"]["id"]] = body
                                    return
                        except aiohttp.ClientError:
                            pass
                    target = 1 - target
                    await asyncio.sleep(0.05)
                raise AssertionError("no instance took the event")

            async def client(lane: int) -> None:
                while queue:
                    n, person = queue.pop()
                    for event in _events(person, n):  # in order: the discharge after the admission
                        await send(event, prefer=(n + lane) % 2)
                    await asyncio.sleep(0.01)  # steady, not a burst

            clients = [asyncio.create_task(client(lane)) for lane in range(6)]
            deadline = time.monotonic() + 60
            while len(accepted) < PATIENTS // 2 or len(receiver.seen) < 10:
                assert time.monotonic() < deadline, "the load did not get going"
                await asyncio.sleep(0.01)
            os.kill(procs[0].pid, signal.SIGKILL)  # midway, with deliveries in flight
            alive[0] = False
            procs[0].wait()
            await asyncio.gather(*clients)
            assert len(accepted) == 2 * PATIENTS

            async with session.get(bases[1] + f"/feed/{NURSING}?limit=1000") as resp:
                feed = [e["messageId"] for e in (await resp.json())["entries"]]
            # every accepted event processed once: one admission and one discharge notice a patient
            assert len(feed) == len(set(feed)) == 2 * PATIENTS
            deadline = time.monotonic() + 60
            while {m for m, _ in receiver.seen} < set(feed):
                assert time.monotonic() < deadline, "not every message was delivered"
                await asyncio.sleep(0.1)
        delivered = [m for m, _ in receiver.seen]
        assert set(delivered) == set(feed)  # every message, and nothing that is not ours
        # a duplicate is a redelivery of the same message (same webhook-id): at most what the dead
        # instance had in flight to this subscriber (its concurrency budget, 32)
        assert len(delivered) - len(set(delivered)) <= 32
        # each patient: first arrivals in the feed's order
        patient_of = dict(receiver.seen)
        for person in people:
            mine = [m for m in feed if patient_of[m] == person]
            arrived = [m for m in dict.fromkeys(delivered) if patient_of[m] == person]
            assert len(mine) == 2 and arrived == mine
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        await hook.close()
