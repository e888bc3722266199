"""FHIR intake throughput: A01 message Bundles over N keep-alive HTTP connections to a real
`gateway serve` process (SQLite, WAL, synchronous=FULL), each answered only after commit.

    python benchmarks/bench_fhir_intake.py [--events 5000] [--connections 8] [--validation-workers 1]
                                           [--respond-async]

With --respond-async every request carries `Prefer: respond-async`: each event's contract and sender
are checked and it is stored before its 202; the inbox validates it against the models and
processes it after; the run also says how long that took.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._http_load import post_request, run
from benchmarks._server import Gateway, running_gateway
from tests import builders


def a01_requests(gw: Gateway, events: int, prefix: str, respond_async: bool = False) -> list[bytes]:
    auth = {**gw.auth, "Prefer": "respond-async"} if respond_async else gw.auth
    return [
        post_request(
            gw.host,
            "/fhir/$process-message",
            orjson.dumps(builders.message("A01", builders.patient(), builders.encounter(f"{prefix}{n}"))),
            headers=auth,
        )
        for n in range(events)
    ]


def drive(
    gw: Gateway, requests: list[bytes], connections: int, expected: int = 200
) -> tuple[float, list[float]]:
    elapsed, latencies, statuses = asyncio.run(run(gw.host, gw.port, requests, connections))
    if set(statuses) != {expected}:
        raise RuntimeError(f"unexpected HTTP statuses {sorted(set(statuses))}")
    return elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--validation-workers", type=int, default=1)
    parser.add_argument("--respond-async", action="store_true", help="202 once stored")
    args = parser.parse_args()
    expected = 202 if args.respond_async else 200
    waited = 0.0
    env = {"GATEWAY_VALIDATION_WORKERS": str(args.validation_workers)}
    with running_gateway(env=env) as gw:
        drive(gw, a01_requests(gw, 300, "warm", args.respond_async), args.connections, expected)
        gw.wait_inbox_empty()
        requests = a01_requests(gw, args.events, "B", args.respond_async)
        cpu0, client0 = gw.cpu(), time.process_time()
        elapsed, lat = drive(gw, requests, args.connections, expected)
        server_cpu, client_cpu = gw.cpu() - cpu0, time.process_time() - client0
        waited = gw.wait_inbox_empty()
    q = statistics.quantiles(lat, n=100)
    print(
        f"FHIR A01 intake: {args.events} events over {args.connections} connections, "
        f"validation workers {args.validation_workers}"
        + (", Prefer: respond-async" if args.respond_async else "")
    )
    print(f"  throughput {args.events / elapsed:,.0f} events/s")
    if args.respond_async:
        overall = args.events / (elapsed + waited)
        print(f"  all processed {waited:.1f} s after the last 202 ({overall:,.0f} events/s overall)")
    print(
        f"  gateway CPU {server_cpu / args.events * 1000:.2f} s per 1,000 events (main process), "
        f"load generator {client_cpu / args.events * 1000:.2f} s per 1,000"
    )
    print(f"  latency p50 {q[49] * 1000:.1f} ms  p95 {q[94] * 1000:.1f} ms  p99 {q[98] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
