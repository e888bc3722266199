"""HL7 v2 over MLLP: ACKed A01 messages per second to a real `gateway serve` process, on one
connection and on eight, each ACK sent only after the message and what it produced committed.

    python benchmarks/bench_mllp.py [--messages 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.hl7v2.framing import frame, read_frame
from benchmarks._server import Gateway, running_gateway
from tests.hl7_builders import adt


async def drive(port: int, frames: list[bytes], connections: int) -> tuple[float, list[float]]:
    queue = list(reversed(frames))
    latencies: list[float] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            data = queue.pop()
            t0 = time.perf_counter()
            writer.write(data)
            ack = await read_frame(reader, 1 << 20)
            latencies.append(time.perf_counter() - t0)
            if ack is None or b"MSA|AA|" not in ack:
                raise RuntimeError("message not accepted")
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - start, latencies


def run(gw: Gateway, messages: int, connections: int, prefix: str) -> None:
    frames = [frame(adt("A01", f"{prefix}{n}", visit=f"{prefix}{n}").encode()) for n in range(messages)]
    cpu0 = gw.cpu()
    elapsed, lat = asyncio.run(drive(gw.mllp_port, frames, connections))
    q = statistics.quantiles(lat, n=100)
    print(
        f"  {connections} connection(s): {messages / elapsed:,.0f} ACKed messages/s, "
        f"gateway CPU {(gw.cpu() - cpu0) / messages * 1000:.2f} s per 1,000, "
        f"ACK latency p50 {q[49] * 1000:.1f} ms p99 {q[98] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    with running_gateway() as gw:
        run(gw, 300, 8, "warm")
        print(f"HL7 v2 A01 over MLLP, {args.messages} messages per run")
        run(gw, args.messages, 1, "one")
        run(gw, args.messages, 8, "eight")


if __name__ == "__main__":
    main()
