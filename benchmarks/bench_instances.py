"""Throughput on each store: SQLite with one instance, PostgreSQL with one and with two instances.

The same load for each: `--patients` patients, each admitted (A01) and discharged (A03) as FHIR
messages over `--connections` keep-alive connections (spread over the instances), and one push
subscriber for every recipient that verifies every Standard Webhooks signature. Two figures per
run: intake (events answered 200 per second) and end to end (events per second until the
subscriber has had every message, and deliveries per second).

PostgreSQL runs with its durable defaults (fsync on, synchronous_commit on), like SQLite's
synchronous=FULL: a throwaway cluster started for the run, or `--database-server URL` (a user
that may create databases). Instances on one database share their data directory (keys).

    python benchmarks/bench_instances.py [--patients 600] [--connections 8] [--only postgresql-2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._http_load import post_request, run
from benchmarks._server import Gateway, dev_auth, free_port, running_gateway
from benchmarks.bench_delivery import HERS, Subscriber, person_numbers, start
from tests import builders

CONFIGS = ("sqlite-1", "postgresql-1", "postgresql-2")


def requests(patients: int, host: str, auth: dict[str, str]) -> list[list[bytes]]:
    """Per patient, its two events in order (a connection sends a patient's events one after the other)."""
    out = []
    for n, person in enumerate(person_numbers(patients)):
        patient, stay = builders.patient(person), builders.encounter(f"I{n}")
        out.append(
            [
                post_request(
                    host,
                    "/fhir/$process-message",
                    orjson.dumps(builders.message(code, patient, stay, event_time=when)),
                    headers=auth,
                )
                for code, when in (("A01", "2026-11-20T08:00:00+01:00"), ("A03", "2026-11-21T12:00:00+01:00"))
            ]
        )
    return out


@contextlib.contextmanager
def instances(count: int, database_url: str, data_dir: Path) -> Iterator[list[Gateway]]:
    with contextlib.ExitStack() as stack:
        env = {"GATEWAY_DATABASE_URL": database_url}
        yield [stack.enter_context(running_gateway(env=env, data_dir=data_dir)) for _ in range(count)]


async def measure(gateways: list[Gateway], data_dir: Path, patients: int, connections: int) -> dict:
    auth = dev_auth(data_dir)
    port = free_port()
    async with aiohttp.ClientSession(headers=auth) as session:
        body = {"herIds": HERS, "mode": "push", "endpoint": f"http://127.0.0.1:{port}/hook"}
        async with session.post(gateways[0].base + "/subscriptions", data=orjson.dumps(body)) as resp:
            sub = Subscriber((await resp.json())["secret"])
    runner = await start(sub, port)
    try:
        per_patient = requests(patients, "127.0.0.1", auth)
        cpu0 = sum(gw.cpu() for gw in gateways)
        t0 = time.perf_counter()
        statuses: list[int] = []

        async def lane(n: int) -> None:
            gw = gateways[n % len(gateways)]
            mine = [r for i, pair in enumerate(per_patient) if i % connections == n for r in pair]
            _, _, got = await run(gw.host, gw.port, mine, 1)  # in order: A01 before A03
            statuses.extend(got)

        await asyncio.gather(*(lane(n) for n in range(connections)))
        intake = time.perf_counter() - t0
        assert statuses.count(200) == 2 * patients, "not every event was accepted"
        # every event is answered after its messages were committed: the feeds hold all of them,
        # and the run ends when the subscriber has had every one
        expected = await feed_size(gateways[0].base, auth)
        while len(sub.arrived) < expected:
            await asyncio.sleep(0.01)
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("deliveries did not finish")
        total = time.perf_counter() - t0
        cpu = sum(gw.cpu() for gw in gateways) - cpu0
    finally:
        await runner.cleanup()
    return {
        "events": 2 * patients,
        "intake_per_s": 2 * patients / intake,
        "end_to_end_per_s": 2 * patients / total,
        "deliveries": expected,
        "deliveries_per_s": expected / total,
        "cpu_per_1000": 1000 * cpu / (2 * patients),
    }


async def feed_size(base: str, auth: dict[str, str]) -> int:
    """How many messages the subscribed recipients' feeds hold (what the subscriber must get)."""
    total = 0
    async with aiohttp.ClientSession(headers=auth) as session:
        for her in HERS:
            after = 0
            while True:
                async with session.get(f"{base}/feed/{her}?after={after}&limit=500") as resp:
                    page = await resp.json()
                if not page["entries"]:
                    break
                total += len(page["entries"])
                after = page["nextCursor"]
    return total


def one_run(config: str, server: str, patients: int, connections: int) -> dict:
    from gateway.store.postgres import create_scratch, drop_scratch

    engine, count = config.rsplit("-", 1)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        url = asyncio.run(create_scratch(server)) if engine == "postgresql" else ""
        try:
            with instances(int(count), url, data_dir) as gateways:
                return asyncio.run(measure(gateways, data_dir, patients, connections))
        finally:
            if url:
                asyncio.run(drop_scratch(server, url))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--database-server", default="", help="postgresql:// URL (default: a throwaway cluster)"
    )
    parser.add_argument("--only", choices=CONFIGS, action="append", help="run only these configurations")
    args = parser.parse_args()
    wanted = args.only or list(CONFIGS)
    with contextlib.ExitStack() as stack:
        server = args.database_server
        if not server and any(c.startswith("postgresql") for c in wanted):
            from tests import pg_server

            server = stack.enter_context(pg_server.cluster(durable=True))
        for config in wanted:
            r = one_run(config, server, args.patients, args.connections)
            print(
                f"{config:13} intake {r['intake_per_s']:6.0f} events/s | end to end "
                f"{r['end_to_end_per_s']:5.0f} events/s, {r['deliveries_per_s']:5.0f} deliveries/s "
                f"({r['deliveries']} delivered) | gateway CPU {r['cpu_per_1000']:.1f} s per 1,000 events",
                flush=True,
            )


if __name__ == "__main__":
    main()
