"""Signed webhook delivery to a real subscriber on loopback: order, retries, dead letters, rotation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.app import build_app
from tests import builders as b
from tests.conftest import Client, auth_headers, running, settings_for

NURSING = "8100011"


@dataclass
class Subscriber:
    """A subscriber system: records what it receives; `decide` says what to answer each request."""

    decide: Callable[[web.Request, int], web.Response] = lambda req, n: web.Response(status=204)
    secret: str = ""
    received: list[dict[str, object]] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    url: str = ""
    delay: float = 0.0  # seconds before each answer: a slow subscriber

    last_body: bytes = b""

    def body_mentions(self, text: str) -> bool:
        return text.encode() in self.last_body

    async def handle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        body = self.last_body = await request.read()
        self.attempts.append(request.headers["webhook-id"])
        try:
            Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=401)
        response = self.decide(request, len(self.attempts))
        if 200 <= response.status < 300:
            bundle = orjson.loads(body)
            self.received.append(
                {
                    "id": request.headers["webhook-id"],
                    "bundle": bundle,
                    "type": bundle["entry"][0]["resource"]["eventCoding"]["code"],
                }
            )
        return response


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def subscribe(gateway: Client, subscriber: Subscriber, **extra: object) -> str:
    app = web.Application()
    app.router.add_post("/hook", subscriber.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    subscriber.url = str(server.make_url("/hook"))
    body = {"herIds": [NURSING], "mode": "push", "endpoint": subscriber.url, **extra}
    async with gateway.session.post(gateway.base + "/subscriptions", data=orjson.dumps(body)) as resp:
        assert resp.status == 201
        created = await resp.json()
    subscriber.secret = created["secret"]
    return str(created["id"])


async def silent_subscription(gateway: Client) -> TestServer:
    """A push subscriber that never answers (until 30 s have passed); the caller closes it."""

    async def hang(req: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hang)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    body = {"herIds": [NURSING], "mode": "push", "endpoint": str(server.make_url("/hook"))}
    async with gateway.session.post(gateway.base + "/subscriptions", data=orjson.dumps(body)) as resp:
        assert resp.status == 201
    return server


def admit(visit: str, person: str = b.FNR_HAMAR) -> dict:
    return b.message("A01", b.patient(person), b.encounter(visit))


async def test_messages_are_pushed_signed_and_in_order(fast_retry_gateway: Client) -> None:
    gw, sub = fast_retry_gateway, Subscriber()
    await subscribe(gw, sub)
    await gw.post_event(admit("V1"))
    await gw.post_event(
        b.message("A11", b.patient(), b.encounter("V1"), event_time="2026-11-02T12:00:00+01:00")
    )
    await until(lambda: len(sub.received) == 2)
    assert [r["type"] for r in sub.received] == ["LOG_INNLAGT", "LOG_INNLAGT"]
    feed_ids = [e["messageId"] for e in await gw.feed(NURSING)]
    assert [r["id"] for r in sub.received] == feed_ids  # webhook-id is the message id, in feed order
    assert sub.bad_signatures == 0


async def test_a_failing_subscriber_gets_retries_with_the_same_webhook_id(fast_retry_gateway: Client) -> None:
    gw = fast_retry_gateway
    sub = Subscriber(decide=lambda req, n: web.Response(status=500 if n < 3 else 200))
    await subscribe(gw, sub)
    await gw.post_event(admit("V1"))
    await until(lambda: len(sub.received) == 1)
    assert len(sub.attempts) == 3 and len(set(sub.attempts)) == 1


async def test_after_the_last_retry_the_message_is_dead_and_can_be_redelivered(
    fast_retry_gateway: Client,
) -> None:
    gw = fast_retry_gateway
    failing = {"on": True}
    sub = Subscriber(decide=lambda req, n: web.Response(status=500 if failing["on"] else 200))
    sub_id = await subscribe(gw, sub)
    await gw.post_event(admit("V1"))

    async def dead() -> list[dict[str, object]]:
        status, body = await gw.get_json(f"/subscriptions/{sub_id}/deliveries?status=dead")
        assert status == 200
        return body["deliveries"]

    deadline = time.monotonic() + 10
    while not await dead():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert len(sub.attempts) == 4  # the first try and three retries
    assert (await dead())[0]["lastError"] == "HTTP 500"
    failing["on"] = False
    async with gw.session.post(gw.base + f"/subscriptions/{sub_id}/redeliver") as resp:
        assert (await resp.json())["requeued"] == 1
    await until(lambda: len(sub.received) == 1)


async def test_410_disables_the_subscription(fast_retry_gateway: Client) -> None:
    gw = fast_retry_gateway
    sub = Subscriber(decide=lambda req, n: web.Response(status=410))
    sub_id = await subscribe(gw, sub)
    await gw.post_event(admit("V1"))
    await until(lambda: len(sub.attempts) == 1)
    await asyncio.sleep(0.2)
    status, body = await gw.get_json(f"/subscriptions/{sub_id}")
    assert (status, body["status"]) == (200, "disabled")
    await gw.post_event(admit("V2"))
    await asyncio.sleep(0.3)
    assert len(sub.attempts) == 1


async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    """A long schedule, but the subscriber asks for one second: it gets it back in about one."""
    settings = settings_for(tmp_path, retry_schedule="3600")
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(headers=auth_headers(settings)) as session:
        gw = Client(str(server.make_url("")).rstrip("/"), session, settings)
        sub = Subscriber(
            decide=lambda req, n: (
                web.Response(status=503, headers={"Retry-After": "1"}) if n == 1 else web.Response(status=200)
            )
        )
        await subscribe(gw, sub)
        await gw.post_event(admit("V1"))
        await until(lambda: len(sub.received) == 1, seconds=5)
    await server.close()


async def test_one_failing_patient_does_not_hold_back_another(fast_retry_gateway: Client) -> None:
    """The subscriber keeps refusing one patient's message; the other patient's still arrives."""
    gw = fast_retry_gateway
    sub = Subscriber()
    sub.decide = lambda req, n: web.Response(status=500 if sub.body_mentions(b.FNR_HAMAR) else 200)
    await subscribe(gw, sub)
    await gw.post_event(admit("V1", b.FNR_HAMAR))
    await gw.post_event(admit("V2", b.FNR_NO_GP))
    await until(lambda: len(sub.received) == 1)
    assert b.FNR_NO_GP in orjson.dumps(sub.received[0]["bundle"]).decode()


async def test_secret_rotation_signs_with_both_secrets(fast_retry_gateway: Client) -> None:
    gw, sub = fast_retry_gateway, Subscriber()
    sub_id = await subscribe(gw, sub)
    old = sub.secret
    async with gw.session.post(gw.base + f"/subscriptions/{sub_id}/rotate-secret") as resp:
        new = (await resp.json())["secret"]
    sub.secret = old  # a receiver that has not switched yet still verifies
    await gw.post_event(admit("V1"))
    await until(lambda: len(sub.received) == 1)
    sub.secret = new  # and one that has switched verifies too
    await gw.post_event(admit("V2"))
    await until(lambda: len(sub.received) == 2)
    assert sub.bad_signatures == 0


async def test_a_silent_subscriber_does_not_slow_another(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, retry_schedule="3600", delivery_timeout=2)
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(headers=auth_headers(settings)) as session:
        gw = Client(str(server.make_url("")).rstrip("/"), session, settings)

        slow = await silent_subscription(gw)
        fast = Subscriber()
        await subscribe(gw, fast)
        started = time.monotonic()
        for n in range(5):
            await gw.post_event(admit(f"V{n}", b.FNR_NO_GP))
        await until(lambda: len(fast.received) == 5, seconds=5)
        assert time.monotonic() - started < 1.5  # well inside the slow one's 2 s timeout
        await slow.close()
    await server.close()


async def test_invalid_subscriptions_are_refused(gateway: Client) -> None:
    for body in (
        {"herIds": []},
        {"herIds": ["8100011"], "mode": "push"},
        {"herIds": ["8100011"], "mode": "push", "endpoint": "ftp://x"},
        {"herIds": ["8100011"], "mode": "pull", "messageTypes": ["NOPE"]},
    ):
        async with gateway.session.post(gateway.base + "/subscriptions", data=orjson.dumps(body)) as resp:
            assert resp.status == 422
            assert resp.content_type == "application/problem+json"


async def test_the_deliverer_stops_promptly_while_woken_without_pause(
    tmp_path: Path, database_url: str
) -> None:
    """Shutdown ends the delivery loop even when commits wake it all the time (a swallowed
    cancellation once kept a stopping gateway alive forever)."""
    from gateway.clock import SystemClock
    from gateway.delivery.webhooks import Deliverer, DeliverySettings
    from gateway.store.cipher import NoCipher
    from gateway.store.engines import open_store

    store = open_store(database_url, tmp_path / "db.sqlite", NoCipher())
    await store.start()
    deliverer = Deliverer(store, SystemClock(), DeliverySettings(idle_poll=0.001))
    running = asyncio.create_task(deliverer.run())
    storm_until = time.monotonic() + 0.5

    async def storm() -> None:
        while time.monotonic() < storm_until:
            deliverer.wake()
            await asyncio.sleep(0)

    stormer = asyncio.create_task(storm())
    await asyncio.sleep(0.2)
    deliverer.stop()
    async with asyncio.timeout(5):
        await running
    await stormer
    await store.close()
    assert running.done() and running.exception() is None


async def test_a_backlog_waits_in_the_database_not_as_claims(tmp_path: Path) -> None:
    """A subscriber slower than the events: the gateway holds at most `delivery_in_flight`
    attempts claimed at any moment (a claimed row carries its payload into the process), and
    everything still arrives, once."""
    from benchmarks.bench_delivery import person_numbers
    from tests.raw_store import rows

    settings = settings_for(tmp_path, delivery_in_flight=3)
    async with running(settings) as gw:
        sub = Subscriber(delay=0.05)
        await subscribe(gw, sub)
        # a patient each: every message is due at once (none waits for the patient's one before)
        for n, person in enumerate(person_numbers(12)):
            await gw.post_event(admit(f"V{n}", person))
        most_claimed = 0
        deadline = time.monotonic() + 15
        while len(sub.received) < 12:
            assert time.monotonic() < deadline, "not all delivered in time"
            claimed = rows(
                settings,
                "SELECT count(*) FROM deliveries WHERE status = 'pending' AND claimed_by IS NOT NULL",
            )[0][0]
            most_claimed = max(most_claimed, claimed)
            await asyncio.sleep(0.01)
        assert 1 <= most_claimed <= 3
        assert len({r["id"] for r in sub.received}) == 12 and sub.bad_signatures == 0


async def test_an_attempt_is_not_started_on_a_lease_about_to_run_out(tmp_path: Path) -> None:
    """Claimed rows queue behind a slow subscriber's one-at-a-time budget. One whose lease would
    run out during its attempt is not sent on it (another instance may claim it by then); it is
    claimed afresh later. Each message arrives exactly once."""
    from benchmarks.bench_delivery import person_numbers

    settings = settings_for(tmp_path, delivery_per_subscriber=1, delivery_timeout=1, delivery_lease_seconds=2)
    async with running(settings) as gw:
        sub = Subscriber(delay=0.4)
        await subscribe(gw, sub)
        for n, person in enumerate(person_numbers(6)):
            await gw.post_event(admit(f"V{n}", person))
        await until(lambda: len(sub.received) == 6, seconds=20)
        await asyncio.sleep(1.0)  # a second send of any of them would arrive by now
        assert sorted(sub.attempts) == sorted({r["id"] for r in sub.received})


async def test_a_silent_subscriber_does_not_take_the_room_of_another(tmp_path: Path) -> None:
    """Room for four attempts in all, two at once per subscription: a subscriber that never
    answers holds at most its two, so the other's messages still go at once."""
    from benchmarks.bench_delivery import person_numbers

    settings = settings_for(
        tmp_path,
        retry_schedule="3600",
        delivery_timeout=3,
        delivery_in_flight=4,
        delivery_per_subscriber=2,
    )
    async with running(settings) as gw:
        slow = await silent_subscription(gw)
        fast = Subscriber()
        await subscribe(gw, fast)
        started = time.monotonic()
        for n, person in enumerate(person_numbers(8)):
            await gw.post_event(admit(f"V{n}", person))
        await until(lambda: len(fast.received) == 8, seconds=6)
        assert time.monotonic() - started < 2.5  # inside the silent one's 3 s timeout
        await slow.close()
