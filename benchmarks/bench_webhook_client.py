"""The webhook request alone: the gateway's client (libcurl through pycurl) against aiohttp's
client as the deliverer used it before, to the same local aiohttp server in another process.

Each round posts N bodies of 1.5 KB, `--concurrency` at a time, after a warm-up that opens the
connections. The figure that matters is the client process's CPU per request: the deliverer's
main thread is the limit of a webhook drain, and the request was its largest part.

    python benchmarks/bench_webhook_client.py [--requests 6000] [--concurrency 32] [--rounds 3]
    python benchmarks/bench_webhook_client.py --memory 8 --requests 20000   # RSS over 8 × 20,000 mixed posts

--memory posts to answers of every kind a subscriber gives (204; 503 with Retry-After; 100 KB,
cut off at 64 KiB; nobody listening) and prints the client process's RSS after each `--requests`:
it must level off, whatever the answers.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import free_port
from gateway.delivery.webhook_client import PostFailed, WebhookClient

BODY = b"x" * 1500
HEADERS = {
    "Content-Type": "application/fhir+json",
    "webhook-id": "0b9d6c58-52c4-4b8e-9d0e-6a3f2b1c0d11",
    "webhook-timestamp": "1795550651",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}


def serve(port: int) -> None:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        kind = request.query.get("kind")
        if kind == "busy":
            return web.Response(status=503, headers={"Retry-After": "5"})
        if kind == "huge":
            return web.Response(status=200, body=b"y" * 100_000)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def measure(name: str, post: Callable[[], Awaitable[int]], requests: int, concurrency: int) -> None:
    room = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with room:
            status = await post()
            assert status == 204, status

    await asyncio.gather(*(one() for _ in range(500)))  # connections open, caches warm
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate, each = requests / wall, cpu / requests * 1e6
    print(f"  {name:8} {rate:8,.0f} requests/s   client CPU {each:5.0f} µs a request")


async def with_curl(url: str, requests: int, concurrency: int) -> None:
    client = WebhookClient(timeout=10.0)

    async def post() -> int:
        return (await client.post(url, BODY, HEADERS)).status

    try:
        await measure("pycurl", post, requests, concurrency)
    finally:
        client.close()


async def with_aiohttp(url: str, requests: int, concurrency: int) -> None:
    # as the deliverer had it: one session, a 256-connection pool, a total timeout, no redirects
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=10.0),
        connector=aiohttp.TCPConnector(limit=256),
        auto_decompress=False,
    ) as session:

        async def post() -> int:
            async with session.post(url, data=BODY, headers=HEADERS, allow_redirects=False) as resp:
                await resp.content.read(64 * 1024)
                return resp.status

        await measure("aiohttp", post, requests, concurrency)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def memory(port: int, rounds: int, per_round: int, concurrency: int) -> None:
    base = f"http://127.0.0.1:{port}/hook"
    urls = [base, f"{base}?kind=busy", f"{base}?kind=huge", f"http://127.0.0.1:{free_port()}/hook"]
    client = WebhookClient(timeout=5.0)
    room = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(n: int) -> None:
        nonlocal failed
        async with room:
            try:
                await client.post(urls[n % len(urls)], BODY, HEADERS)
            except PostFailed:
                failed += 1

    try:
        for done in range(1, rounds + 1):
            await asyncio.gather(*(one(n) for n in range(per_round)))
            print(f"  after {done * per_round:8,} posts ({failed:,} refused): RSS {rss_mb():6.1f} MB")
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", type=int, default=0, help="rounds of mixed posts; RSS after each")
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    time.sleep(1.5)
    url = f"http://127.0.0.1:{port}/hook"
    try:
        if args.memory:
            print("Webhook client memory: 204, 503, 100 KB answers and a closed port, in turn")
            asyncio.run(memory(port, args.memory, args.requests, args.concurrency))
            return
        print(f"Webhook client: {args.requests} POSTs of {len(BODY)} bytes, {args.concurrency} at a time")
        for _ in range(args.rounds):  # interleaved, so that the machine's drift hits both alike
            asyncio.run(with_aiohttp(url, args.requests, args.concurrency))
            asyncio.run(with_curl(url, args.requests, args.concurrency))
    finally:
        server.kill()


if __name__ == "__main__":
    main()
