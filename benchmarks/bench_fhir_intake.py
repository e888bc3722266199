"""FHIR intake throughput: A01 message Bundles over N concurrent HTTP connections to a real
`gateway serve` process (SQLite, WAL, synchronous=FULL), each answered only after commit.

    python benchmarks/bench_fhir_intake.py [--events 5000] [--connections 8] [--validation-workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import running_gateway
from tests import builders


async def drive(base: str, events: int, connections: int) -> tuple[float, list[float]]:
    bodies = [
        orjson.dumps(builders.message("A01", builders.patient(), builders.encounter(f"B{n}")))
        for n in range(events)
    ]
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                t0 = time.perf_counter()
                async with session.post(
                    base + "/fhir/$process-message",
                    data=body,
                    headers={"Content-Type": "application/fhir+json"},
                ) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--validation-workers", type=int, default=1)
    args = parser.parse_args()
    env = {"GATEWAY_VALIDATION_WORKERS": str(args.validation_workers)}
    with running_gateway(env=env) as gw:
        asyncio.run(drive(gw.base, 200, args.connections))  # warm up
        cpu0, client0 = gw.cpu(), time.process_time()
        elapsed, lat = asyncio.run(drive(gw.base, args.events, args.connections))
        server_cpu, client_cpu = gw.cpu() - cpu0, time.process_time() - client0
    q = statistics.quantiles(lat, n=100)
    print(
        f"FHIR A01 intake: {args.events} events over {args.connections} connections, "
        f"validation workers {args.validation_workers}"
    )
    print(f"  throughput {args.events / elapsed:,.0f} events/s")
    print(
        f"  gateway CPU {server_cpu / args.events * 1000:.2f} s per 1,000 events (main process; validation "
        f"workers not counted), load generator CPU {client_cpu / args.events * 1000:.2f} s per 1,000"
    )
    print(f"  latency p50 {q[49] * 1000:.1f} ms  p95 {q[94] * 1000:.1f} ms  p99 {q[98] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
