"""Signed webhook delivery to a local subscriber that verifies every signature.

1. Drain: N messages for many patients wait for a subscriber that is down; it comes up and the
   time until it has all of them gives deliveries per second.
2. Latency: events at a steady rate (three messages each, all subscribed), from the moment the
   intake answered (the messages are committed then) to the subscriber's receipt, p50/p95/p99.

    python benchmarks/bench_delivery.py [--messages 3000] [--rate 200] [--seconds 10] [--cold [idle|now]]

The drain's messages were each attempted before (that is how they became dead), so each one's
CMS signature is kept with its delivery and sent again, as for any backlog of a subscriber that
was down. --cold restarts the gateway and, while it is stopped, forgets those signatures in its
SQLite file, so that the drain signs every message as a first delivery does; it redelivers once
the restarted gateway is idle (--cold now: at once, while the deadline watcher's first pass over
the stays runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook
from stdnum.no import fodselsnummer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import Gateway, free_port, running_gateway
from tests import builders

HERS = ["8100011", "8100012", "8200011"]


def person_numbers(count: int) -> list[str]:
    """Valid made-up fødselsnumre, so that every event is a different patient (own delivery order)."""
    out: list[str] = []
    for day in range(1, 29):
        for year in range(40, 99):
            for serial in range(100, 500):
                base = f"{day:02d}01{year:02d}{serial:03d}"
                k1 = fodselsnummer.calc_check_digit1(base)
                k2 = fodselsnummer.calc_check_digit2(base + k1) if len(k1) == 1 else "10"
                if len(k2) == 1 and fodselsnummer.is_valid(base + k1 + k2):
                    out.append(base + k1 + k2)
                    if len(out) == count:
                        return out
    raise ValueError("not that many")


class Subscriber:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.arrived: dict[str, float] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)
        self.arrived.setdefault(request.headers["webhook-id"], time.perf_counter())
        return web.Response(status=204)


async def start(sub: Subscriber, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", sub.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def subscribe(session: aiohttp.ClientSession, base: str, port: int) -> str:
    body = {"herIds": HERS, "mode": "push", "endpoint": f"http://127.0.0.1:{port}/hook"}
    async with session.post(base + "/subscriptions", data=orjson.dumps(body)) as resp:
        return str((await resp.json())["secret"])


async def post(session: aiohttp.ClientSession, base: str, body: bytes) -> list[str]:
    async with session.post(base + "/fhir/$process-message", data=body) as resp:
        issues = (await resp.json(content_type=None))["entry"][1]["resource"]["issue"]
    return [i["diagnostics"].rsplit(" ", 1)[1] for i in issues if " as message " in i["diagnostics"]]


@dataclass
class Backlog:
    """Messages that failed until they were dead, for a subscription whose subscriber was down."""

    subscription_id: str
    subscriber: Subscriber
    port: int


async def dead_letters(base: str, messages: int, auth: dict[str, str]) -> Backlog:
    port = free_port()
    people = person_numbers(messages // 2 + 1)
    async with aiohttp.ClientSession(headers=auth) as session:
        body = {"herIds": HERS, "mode": "push", "endpoint": f"http://127.0.0.1:{port}/hook"}
        async with session.post(base + "/subscriptions", data=orjson.dumps(body)) as resp:
            created = await resp.json()
        sem = asyncio.Semaphore(8)

        async def one(n: int) -> None:
            event = builders.message("A01", builders.patient(people[n]), builders.encounter(f"D{n}"))
            async with sem:
                await post(session, base, orjson.dumps(event))

        await asyncio.gather(*(one(n) for n in range(messages // 2)))
        pending_url = f"{base}/subscriptions/{created['id']}/deliveries?status=pending"
        while True:  # every message dead, so that the redelivery below requeues them all at once
            async with session.get(pending_url) as resp:
                if not (await resp.json())["deliveries"]:
                    break
            await asyncio.sleep(0.1)
    # nobody was listening: every message failed, then was dead
    return Backlog(created["id"], Subscriber(created["secret"]), port)


async def drain(base: str, backlog: Backlog, auth: dict[str, str], label: str) -> None:
    """All messages become due at once (redelivery of dead letters), so the figure is the
    deliverer's own rate, not the retry schedule's."""
    sub = backlog.subscriber
    async with aiohttp.ClientSession(headers=auth) as session:
        runner = await start(sub, backlog.port)
        t0 = time.perf_counter()
        async with session.post(f"{base}/subscriptions/{backlog.subscription_id}/redeliver") as resp:
            requeued = (await resp.json())["requeued"]
        while len(sub.arrived) < requeued:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
        await runner.cleanup()
    print(
        f"  drain{label}: {requeued} messages for {requeued // 2} patients delivered and verified in "
        f"{elapsed:.2f} s = {requeued / elapsed:,.0f} deliveries/s"
    )


async def latency(base: str, rate: float, seconds: float, auth: dict[str, str]) -> None:
    port = free_port()
    events = int(rate / 3 * seconds)
    people = person_numbers(events + 1)
    async with aiohttp.ClientSession(headers=auth) as session:
        sub = Subscriber(await subscribe(session, base, port))
        runner = await start(sub, port)
        ready: dict[str, float] = {}

        async def one(n: int) -> None:
            body = orjson.dumps(
                builders.message("A01", builders.patient(people[n]), builders.encounter(f"L{n}"))
            )
            ids = await post(session, base, body)
            now = time.perf_counter()
            ready.update({i: now for i in ids})

        tasks = []
        start_at = time.perf_counter()
        for n in range(events):
            await asyncio.sleep(max(0.0, start_at + n * 3 / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        while len(sub.arrived) < len(ready):
            await asyncio.sleep(0.01)
        await runner.cleanup()
    lat = sorted(max(0.0, sub.arrived[i] - ready[i]) for i in ready)
    q = statistics.quantiles(lat, n=100)
    print(
        f"  latency at {rate:.0f} messages/s for {seconds:.0f} s ({len(lat)} messages): "
        f"p50 {q[49] * 1000:.1f} ms  p95 {q[94] * 1000:.1f} ms  p99 {q[98] * 1000:.1f} ms"
    )


def forget_signatures(database: Path) -> None:
    """The CMS signatures kept with the outbound messages (migration 0011), gone: a stopped
    gateway's file."""
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("DELETE FROM outbound_signatures")


def wait_idle(gw: Gateway, quiet: float = 0.5, limit: float = 60.0) -> float:
    """Seconds until the gateway process has used under 5 % of a core for `quiet` seconds: its
    start-up work (the deadline watcher's first pass over every recent stay) is done."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        before = gw.cpu()
        time.sleep(quiet)
        if gw.cpu() - before < 0.05 * quiet:
            break
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10, help="of the latency run; 0 = drain only")
    parser.add_argument(
        "--cold",
        nargs="?",
        const="idle",
        choices=["idle", "now"],
        help="restart the gateway and forget the kept signatures before the drain: redeliver once it is idle "
        "(default), or `now`, while its start-up work (the deadline watcher's first pass) runs",
    )
    args = parser.parse_args()
    print("Webhook delivery (Standard Webhooks signatures, verified by the subscriber)")
    env = {"GATEWAY_RETRY_SCHEDULE": "0.01"}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        with running_gateway(env=env, data_dir=data_dir) as gw:
            backlog = asyncio.run(dead_letters(gw.base, args.messages, gw.auth))
            if not args.cold:  # the failed attempts left each message's CMS signature in the cache
                asyncio.run(drain(gw.base, backlog, gw.auth, ""))
        if args.cold:  # a new process, no signature kept: every message is signed, as on its first delivery
            forget_signatures(data_dir / "gateway.sqlite")
            with running_gateway(env=env, data_dir=data_dir) as gw:
                label = " (cold: no signature kept, redelivered at once after the restart)"
                if args.cold == "idle":
                    waited = wait_idle(gw)
                    label = f" (cold: no signature kept, redelivered once idle, {waited:.1f} s after start)"
                asyncio.run(drain(gw.base, backlog, gw.auth, label))
    if args.seconds > 0:
        with running_gateway() as gw:
            asyncio.run(latency(gw.base, args.rate, args.seconds, gw.auth))


if __name__ == "__main__":
    main()
