"""HL7 v2 over MLLP to a real `gateway serve` process (SQLite, synchronous=FULL): ACKed messages
per second on one connection and on eight, ACK latency at a fixed rate, and how fast what was
acknowledged at storage is then processed.

Two acknowledgement modes (docs/HL7V2-MAPPING.md):
  accept    MSH-15 = AL: CA once the raw message is durable; mapping, rules, outbox after (the inbox)
  original  no MSH-15: AA/AE once the message is processed and committed, rules' findings in ERR

    python benchmarks/bench_mllp.py [--messages 5000] [--rate 1000] [--seconds 5] [--modes accept,original]

The floors (first, unless --no-floor) are what this machine allows with no HL7 work at all: the
same sender against a minimal server that writes each message durably and ACKs it (see floor()).

The load generator is an asyncio Protocol too, so it costs the shared second core little; every
ACK is checked (MSA-1 and MSA-2). Latency at a fixed rate is measured from when each message was
due, not when a connection was free to send it, so queueing counts.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.hl7v2.framing import FrameDecoder, frame
from benchmarks._server import Gateway, cpu_seconds, free_port, running_gateway
from tests.hl7_builders import adt

EXPECTED = {"accept": b"CA", "original": b"AA"}


class _Lane(asyncio.Protocol):
    """One MLLP connection sending one message at a time, as senders do. Flooding, it sends the
    next message from `queue` from the callback that received the last ACK: no task or future
    per message, so the load generator is not what limits the figure."""

    def __init__(self, expected: bytes, queue: deque[tuple[bytes, bytes]] | None = None) -> None:
        self.expected = expected
        self.queue = queue
        self.decoder = FrameDecoder(1 << 20)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[bytes] | None = None
        self.latencies: list[float] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.control_id = b""
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for ack in self.decoder.feed(data):
            if self.queue is None:
                assert self.answer is not None
                self.answer.set_result(ack)
                continue
            self.latencies.append(time.perf_counter() - self.sent)
            self.check(ack, self.control_id)
            self.next()

    def next(self) -> None:
        assert self.queue is not None and self.transport is not None
        if not self.queue:
            self.done.set_result(None)
            return
        data, self.control_id = self.queue.popleft()
        self.sent = time.perf_counter()
        self.transport.write(data)

    def check(self, ack: bytes, control_id: bytes) -> None:
        msa = ack[ack.find(b"MSA|") :].split(b"\r", 1)[0].split(b"|")
        if msa[1] != self.expected or msa[2] != control_id:
            raise RuntimeError(f"unexpected ACK: {msa[1]!r} for {control_id!r}")

    async def send(self, data: bytes, control_id: bytes) -> None:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        self.check(await self.answer, control_id)


async def _lanes(
    port: int, count: int, expected: bytes, queue: deque[tuple[bytes, bytes]] | None = None
) -> list[_Lane]:
    loop = asyncio.get_running_loop()
    lanes = []
    for _ in range(count):
        _, lane = await loop.create_connection(lambda: _Lane(expected, queue), "127.0.0.1", port)
        lanes.append(lane)
    return lanes


def _messages(prefix: str, count: int, mode: str) -> list[tuple[bytes, bytes]]:
    extra = {"msh15": "AL"} if mode == "accept" else {}
    out = []
    for n in range(count):
        control_id = f"{prefix}{n}"
        text = adt("A01", control_id, visit=control_id, **extra)
        out.append((frame(text.encode()), control_id.encode()))
    return out


async def flood(
    port: int, messages: list[tuple[bytes, bytes]], connections: int, mode: str
) -> tuple[float, list[float]]:
    """Every connection sends its next message as soon as the last one's ACK came back."""
    queue = deque(messages)
    lanes = await _lanes(port, connections, EXPECTED[mode], queue)
    start = time.perf_counter()
    for lane in lanes:
        lane.next()
    await asyncio.gather(*(lane.done for lane in lanes))
    elapsed = time.perf_counter() - start
    for lane in lanes:
        assert lane.transport is not None
        lane.transport.close()
    return elapsed, [t for lane in lanes for t in lane.latencies]


async def paced(port: int, messages: list[tuple[bytes, bytes]], rate: float, mode: str) -> list[float]:
    """Messages due at a fixed rate over 8 connections; latency counts from when each was due."""
    lanes = await _lanes(port, 8, EXPECTED[mode])
    free: asyncio.Queue[_Lane] = asyncio.Queue()
    for lane in lanes:
        free.put_nowait(lane)
    latencies: list[float] = []
    start = time.perf_counter()

    async def one(lane: _Lane, data: bytes, control_id: bytes, due: float) -> None:
        await lane.send(data, control_id)
        latencies.append(time.perf_counter() - due)
        free.put_nowait(lane)

    tasks = []
    for n, (data, control_id) in enumerate(messages):
        due = start + n / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        lane = await free.get()
        tasks.append(asyncio.create_task(one(lane, data, control_id, due)))
    await asyncio.gather(*tasks)
    for lane in lanes:
        assert lane.transport is not None
        lane.transport.close()
    return latencies


def _q(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1000:.2f} ms, p99 {q[98] * 1000:.2f} ms"


def run(gw: Gateway, mode: str, messages: int, connections: int, prefix: str) -> None:
    batch = _messages(prefix, messages, mode)
    cpu0 = gw.cpu()
    elapsed, lat = asyncio.run(flood(gw.mllp_port, batch, connections, mode))
    line = (
        f"  {mode:8} {connections} connection(s): {messages / elapsed:,.0f} ACKed messages/s, "
        f"ACK latency {_q(lat)}, gateway CPU {(gw.cpu() - cpu0) / messages * 1000:.2f} s per 1,000"
    )
    if mode == "accept":
        waited = gw.wait_inbox_empty()
        overall = messages / (elapsed + waited)
        line += f"; all processed {waited:.1f} s after the last ACK ({overall:,.0f} messages/s overall)"
    print(line, flush=True)


def run_paced(gw: Gateway, mode: str, rate: float, seconds: float, prefix: str) -> None:
    batch = _messages(prefix, int(rate * seconds), mode)
    lat = asyncio.run(paced(gw.mllp_port, batch, rate, mode))
    label = f"at {rate:,.0f} messages/s for {seconds:g} s (8 connections)"
    print(f"  {mode:8} {label}: ACK latency {_q(lat)}", flush=True)
    if mode == "accept":
        gw.wait_inbox_empty()


# ---------------------------------------------------------------- the floor


def _floor_server(port: int, db: str, ready: Any, commit: str = "group") -> None:
    """What the hardware allows: an asyncio Protocol, one durable INSERT per message (WAL,
    synchronous=FULL, as the store), a CA; no HL7 parsing at all. The INSERTs of messages that
    arrive together share a commit on the loop (`group`, as the store); or each message is committed
    in the read callback itself (`inline`: no task wake-up between the read and the ACK, the
    shortest round trip a waiting sender can get with a durable write); or nothing is written
    (`none`: what the sockets and the two Pythons cost on their own)."""

    async def main() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE inbox (seq INTEGER PRIMARY KEY, body BLOB)")
        pending: list[tuple[bytes, asyncio.Transport]] = []
        wake = asyncio.Event()

        class Floor(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                self.transport, self.decoder = transport, FrameDecoder(1 << 22)

            def data_received(self, data: bytes) -> None:
                for msg in self.decoder.feed(data):
                    if commit == "group":
                        pending.append((msg, self.transport))
                        wake.set()
                        continue
                    if commit == "inline":
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute("INSERT INTO inbox (body) VALUES (?)", (msg,))
                        conn.execute("COMMIT")
                    self.transport.write(_floor_ack(msg))

        async def committer() -> None:
            while True:
                await wake.wait()
                wake.clear()
                batch, pending[:] = pending[:], []
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO inbox (body) VALUES (?)", [(m,) for m, _ in batch])
                conn.execute("COMMIT")
                for msg, transport in batch:
                    transport.write(_floor_ack(msg))

        commits = asyncio.create_task(committer())
        await asyncio.get_running_loop().create_server(Floor, "127.0.0.1", port)
        ready.set()
        await commits

    asyncio.run(main())


FLOOR_LABELS = {"group": "floor", "inline": "floor, commit in the read callback", "none": "no write at all"}


def _floor_ack(msg: bytes) -> bytes:
    control = msg.split(b"\r", 1)[0].split(b"|")[9]
    return frame(b"MSH|^~\\&|GW|GW|||20261124||ACK|" + control + b"|P|2.5\rMSA|CA|" + control + b"\r")


def floor(
    messages: int, connections: tuple[int, ...] = (1, 8), commit: str = "group"
) -> list[tuple[float, list[float]]]:
    """The floor's ACKed messages/s and ACK latencies on each number of connections, printed; also
    the floor bench_e2e.py puts its intake beside."""
    port = free_port()
    results = []
    label = FLOOR_LABELS[commit]
    with tempfile.TemporaryDirectory() as tmp:
        ready = multiprocessing.Event()
        args = (port, f"{tmp}/floor.sqlite", ready, commit)
        proc = multiprocessing.Process(target=_floor_server, args=args, daemon=True)
        proc.start()
        ready.wait(10)
        try:
            for count in connections:
                batch = _messages("F", messages, "accept")
                assert proc.pid is not None
                cpu0 = cpu_seconds(proc.pid)
                elapsed, lat = asyncio.run(flood(port, batch, count, "accept"))
                cpu = (cpu_seconds(proc.pid) - cpu0) / messages * 1000
                print(
                    f"  {label} {count} connection(s): {messages / elapsed:,.0f} ACKed messages/s, "
                    f"ACK latency {_q(lat)}, server CPU {cpu:.2f} s per 1,000",
                    flush=True,
                )
                results.append((messages / elapsed, lat))
        finally:
            proc.kill()
            proc.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--modes", default="accept,original")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor: framing, durable write, ACK")
    args = parser.parse_args()
    if not args.no_floor:
        print("floor: framing + durable write + ACK, nothing else (what the hardware allows)", flush=True)
        floor(args.messages)
        floor(args.messages, (1,), commit="inline")
        floor(args.messages, (1,), commit="none")
    with running_gateway() as gw:
        for mode in args.modes.split(","):
            run(gw, mode, 300, 8, f"warm-{mode}-")
            print(f"HL7 v2 A01 over MLLP, {mode} acknowledgement, {args.messages} messages a run", flush=True)
            run(gw, mode, args.messages, 1, f"one-{mode}-")
            run(gw, mode, args.messages, 8, f"eight-{mode}-")
            if args.seconds > 0:
                run_paced(gw, mode, args.rate, args.seconds, f"paced-{mode}-")


if __name__ == "__main__":
    main()
