"""End to end: a hospital's discharges in over real sockets, out to a subscriber that verifies
every signature, against a real `gateway serve` process (SQLite, durable settings).

Each stay is one discharge handover, five events in clinical order: A01 over MLLP, A16 (ready
for discharge) as FHIR, the Utskrivningsrapport (T02) as FHIR, A03 over MLLP, the Epikrise (T02)
as FHIR. Every stay is a different patient, so per-patient delivery order does not serialise
the run. Two push subscriptions for every recipient in the demo directory take every message, one
as FHIR JSON and one as KITH XML (rendered and validated against the official schemas; the FHIR-only
medication list has no KITH form and is not sent to the second).

Phases:
1. floors, in the same run: framing + durable write + ACK (bench_mllp.py's minimal MLLP server, same SQLite
   settings), and XML parse + serialise + XSD validation of an official PLO example;
2. throughput: `--stays` stays over `--lanes` lanes (each lane one MLLP and one HTTP
   connection, one event in flight), until the subscriber has every message;
3. latency: events at a fixed `--rate` for `--seconds`, each message timed from the send of
   the event that produced it to the subscriber's 2xx;
4. optional soak (`--soak-minutes`): the fixed rate for that long, RSS sampled every 10 s.

    python benchmarks/bench_e2e.py [--stays 400] [--lanes 8] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.hl7v2.framing import frame, read_frame
from benchmarks._http_load import _read_response, post_request
from benchmarks._server import Gateway, free_port, running_gateway
from benchmarks.bench_delivery import person_numbers
from benchmarks.bench_mllp import floor
from gateway.replay.runner import hl7_stored
from tests import builders
from tests.hl7_builders import adt
from tests.rules.complete_stay import completed

VISIT_SYSTEM = "urn:hl7v2:visit:8000001"  # what the HL7 mapping makes of PV1-19 from this hospital
SHARED = Path(__file__).resolve().parents[2] / "shared"
EVENTS_PER_STAY = 5


# ---------------------------------------------------------------- the events of one stay


@dataclass
class Event:
    stay: str
    channel: str  # mllp | http
    payload: bytes  # an MLLP frame, or a whole HTTP request


DRUGS = 4  # drugs in each Utskrivningsrapport (--medications)


def drugs(count: int) -> list[dict[str, object]]:
    """`count` discharge drugs: a changed, a stopped, a new and an unchanged one in turn."""
    kinds = [
        {"change": "changed", "reason": "Dosejustert"},
        {"change": "stopped", "status": "stopped", "reason": "Ikke lenger indisert"},
        {"change": "new", "reason": "Ny diagnose"},
        {"change": "unchanged"},
    ]
    return [
        builders.medication(f"C09AA{n % 100:02d}", f"Legemiddel {n}", f"{n % 9 + 1} mg x 1", **kinds[n % 4])
        for n in range(count)
    ]


def stay_events(n: int, person: str, tag: str, auth: dict[str, str]) -> list[Event]:
    visit = f"{tag}{n}"

    def fhir(bundle: dict[str, object]) -> Event:
        for entry in bundle["entry"]:  # type: ignore[union-attr]
            res = entry["resource"]
            if res["resourceType"] == "Encounter":
                res["identifier"][0]["system"] = VISIT_SYSTEM
        body = orjson.dumps(bundle)
        return Event(visit, "http", post_request("127.0.0.1", "/fhir/$process-message", body, headers=auth))

    def mllp(trigger: str, **kw: str) -> Event:
        return Event(
            visit, "mllp", frame(adt(trigger, f"{visit}{trigger}", visit=visit, person=person, **kw).encode())
        )

    pat = builders.patient(person)
    meds = drugs(DRUGS)
    ready_at = "2026-11-05T09:00:00+01:00"
    ready = builders.encounter(visit, ready=ready_at)
    report = builders.composition(f"R{visit}")
    epikrise = builders.composition(f"E{visit}", builders.codes.LOINC_EPIKRISE)
    # complete handovers, as a careful ward sends them: nothing is held back by the rules
    return [
        mllp("A01"),
        fhir(
            builders.message("A16", *completed("A16", [pat, ready]), event_time="2026-11-05T09:00:00+01:00")
        ),
        fhir(
            builders.message(
                "T02", *completed("T02", [dict(pat), report, builders.encounter(visit), *meds]), focus=report
            )
        ),
        mllp("A03", evn_time="20261106120000", discharge="20261106120000", disposition="01"),
        fhir(
            builders.message(
                "T02", *completed("T02", [dict(pat), epikrise, builders.encounter(visit)]), focus=epikrise
            )
        ),
    ]


# ---------------------------------------------------------------- the subscriber


@dataclass
class Subscriber:
    secrets: list[str] = field(default_factory=list)  # one per FHIR JSON subscription (/hook/N)
    xml_secret: str = ""
    # "N webhook-id" -> (time, stay): each FHIR JSON subscription gets every message once
    arrived: dict[str, tuple[float, str]] = field(default_factory=dict)
    xml_arrived: dict[str, float] = field(default_factory=dict)
    bad: int = 0
    report: bytes = b""  # one Utskrivningsrapport as delivered, to time its KITH rendering alone

    def verified(self, secret: str, body: bytes, request: web.Request) -> bool:
        try:
            Webhook(secret).verify(body, dict(request.headers), json_parse=False)
        except Exception:
            self.bad += 1
            return False
        return True

    async def handle_xml(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.verified(self.xml_secret, body, request) or not body.startswith(b"<?xml"):
            return web.Response(status=401)
        self.xml_arrived.setdefault(request.headers["webhook-id"], time.perf_counter())
        return web.Response(status=204)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        n = int(request.match_info["n"])
        if not self.verified(self.secrets[n], body, request):
            return web.Response(status=401)
        stay = ""
        if not self.report and b'"UTSKRIVNINGSRAPPORT"' in body:
            self.report = body
        for entry in orjson.loads(body).get("entry", ()):
            res = entry.get("resource", {})
            if res.get("resourceType") == "Encounter":
                stay = (res.get("identifier") or [{}])[0].get("value", "")
                break
        self.arrived.setdefault(f"{n} {request.headers['webhook-id']}", (time.perf_counter(), stay))
        return web.Response(status=204)


async def subscribe(gw: Gateway, sub: Subscriber, port: int, json_subscriptions: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook/{n}", sub.handle)
    app.router.add_post("/hook-xml", sub.handle_xml)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hers = [  # every municipal service and GP in the demo directory
        *("8100011", "8100012", "8100021", "8100022", "8100031", "8100032", "8100041", "8100042"),
        *("8200011", "8200021", "8200031"),
    ]
    async with aiohttp.ClientSession(headers=gw.auth) as session:
        wanted = [("fhir-json", f"/hook/{n}") for n in range(json_subscriptions)] + [
            ("kith-xml", "/hook-xml")
        ]
        for fmt, path in wanted:
            url = f"http://127.0.0.1:{port}{path}"
            body = {"herIds": hers, "mode": "push", "format": fmt, "endpoint": url}
            async with session.post(gw.base + "/subscriptions", json=body) as resp:
                secret = (await resp.json())["secret"]
            if fmt == "fhir-json":
                sub.secrets.append(secret)
            else:
                sub.xml_secret = secret
    return runner


# ---------------------------------------------------------------- driving the gateway


class Lane:
    """One MLLP and one HTTP keep-alive connection; one event in flight. A connection the gateway
    closed while idle (its keep-alive timeout) is opened again, as any client would."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def open(self) -> None:
        await self._open_mllp()
        await self._open_http()

    async def _open_mllp(self) -> None:
        self.mr, self.mw = await asyncio.open_connection("127.0.0.1", self.gw.mllp_port, limit=1 << 22)

    async def _open_http(self) -> None:
        self.hr, self.hw = await asyncio.open_connection("127.0.0.1", self.gw.port, limit=1 << 22)

    async def send(self, event: Event) -> None:
        for attempt in (1, 2):
            try:
                await self._send(event)
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                if attempt == 2:
                    raise
                await (self._open_mllp() if event.channel == "mllp" else self._open_http())

    async def _send(self, event: Event) -> None:
        if event.channel == "mllp":
            self.mw.write(event.payload)
            ack = await read_frame(self.mr, 1 << 20)
            if ack is None:
                raise ConnectionResetError("MLLP connection closed")
            if not hl7_stored(ack):  # AA, or AE for failed handover rules only
                raise RuntimeError("HL7 event not accepted")
        else:
            self.hw.write(event.payload)
            status, _ = await _read_response(self.hr)
            if status != 200:
                raise RuntimeError(f"FHIR event answered {status}")

    def close(self) -> None:
        self.mw.close()
        self.hw.close()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of a process and its children still running, in MB."""
    cur = peak = 0.0
    for p in [pid, *children(pid)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1]) / 1024
    return cur, peak


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def gateway_cpu(gw: Gateway) -> float:
    from benchmarks._server import cpu_seconds

    return gw.cpu() + sum(cpu_seconds(c) for c in children(gw.pid))


def q(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    p = statistics.quantiles(values, n=100)
    return f"p50 {p[49] * 1000:.1f} ms, p95 {p[94] * 1000:.1f} ms, p99 {p[98] * 1000:.1f} ms"


async def wait_for(sub: Subscriber, count: tuple[int, int], timeout: float) -> None:
    """Until the subscriber has `count` = (FHIR JSON, KITH XML) messages."""
    deadline = time.perf_counter() + timeout
    while len(sub.arrived) < count[0] or len(sub.xml_arrived) < count[1]:
        if time.perf_counter() > deadline:
            have = (len(sub.arrived), len(sub.xml_arrived))
            raise RuntimeError(f"only {have} of {count} messages delivered in {timeout:.0f} s")
        await asyncio.sleep(0.01)


async def messages_so_far(gw: Gateway) -> tuple[int, int]:
    """Messages the gateway made: (all of them, those with a KITH XML form)."""
    async with aiohttp.ClientSession(headers=gw.auth) as session, session.get(gw.base + "/metrics") as resp:
        text = await resp.text()
    total = fhir_only = 0.0
    for line in text.splitlines():
        if line.startswith("gateway_messages_total{"):
            total += float(line.rsplit(" ", 1)[1])
            if 'type="LEGEMIDDELLISTE"' in line:
                fhir_only += float(line.rsplit(" ", 1)[1])
    return int(total), int(total - fhir_only)


async def throughput(
    gw: Gateway, sub: Subscriber, stays: int, lanes: int, people: list[str], tag: str = "T"
) -> None:
    work = [stay_events(n, people[n], tag, gw.auth) for n in range(stays)]
    queue = list(reversed(work))
    intake: list[float] = []
    base = (len(sub.arrived), len(sub.xml_arrived))
    before = await messages_so_far(gw)

    async def lane_loop() -> None:
        lane = Lane(gw)
        await lane.open()
        while queue:
            for event in queue.pop():
                t0 = time.perf_counter()
                await lane.send(event)
                intake.append(time.perf_counter() - t0)
        lane.close()

    cpu0, own0 = gateway_cpu(gw), time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(lane_loop() for _ in range(lanes)))
    t_intake = time.perf_counter() - t0
    after = await messages_so_far(gw)
    produced = (after[0] - before[0], after[1] - before[1])
    copies = len(sub.secrets)  # each FHIR JSON subscription gets every message
    await wait_for(sub, (base[0] + produced[0] * copies, base[1] + produced[1]), 300)
    t_all = time.perf_counter() - t0
    delivered = produced[0] * copies + produced[1]
    cpu, own = gateway_cpu(gw) - cpu0, time.process_time() - own0
    events = stays * EVENTS_PER_STAY
    print(
        f"throughput: {stays} stays = {events} events over {lanes} lanes; {produced[0]} messages made and "
        f"delivered as FHIR JSON, {produced[1]} of them also as KITH XML"
    )
    print(
        f"  intake stage:  {events / t_intake:,.0f} events/s accepted (durable, answered), "
        f"answer latency {q(intake)}"
    )
    if FLOORS.get("mllp"):
        print(f"                 = {events / t_intake / FLOORS['mllp']:.1%} of the floor's messages/s")
    print(
        f"  end to end:    {events / t_all:,.0f} events/s and {delivered / t_all:,.0f} deliveries/s "
        "with every message delivered"
    )
    print(
        f"  CPU:           gateway {cpu / events * 1000:.2f} s per 1,000 events (main process and "
        f"its workers); this load generator and subscriber {own / events * 1000:.2f} s per 1,000"
    )


async def at_rate(
    gw: Gateway,
    sub: Subscriber,
    rate: float,
    seconds: float,
    people: list[str],
    tag: str,
    rss_every: float = 0.0,
) -> tuple[list[float], list[tuple[float, float]]]:
    """Events at a fixed rate (stays interleaved); returns each message's latency from its
    event's send to the subscriber's 2xx, and RSS samples."""
    stays = max(1, int(rate * seconds / EVENTS_PER_STAY))
    work = [stay_events(n, people[n % len(people)], tag, gw.auth) for n in range(stays)]
    sent: dict[str, list[float]] = {}
    lanes = [Lane(gw) for _ in range(8)]
    for lane in lanes:
        await lane.open()
    locks = [asyncio.Lock() for _ in lanes]
    start = time.perf_counter()
    base, base_xml = len(sub.arrived), len(sub.xml_arrived)
    before = await messages_so_far(gw)
    samples: list[tuple[float, float]] = []
    tasks = []

    async def one(i: int, event: Event) -> None:
        async with locks[i % len(lanes)]:
            sent.setdefault(event.stay, []).append(time.perf_counter())
            await lanes[i % len(lanes)].send(event)

    # stay s's k-th event goes at slot k * stays + s: a stay's events are a whole round apart
    order = [(s, k) for k in range(EVENTS_PER_STAY) for s in range(stays)]
    next_rss = start
    for i, (s, k) in enumerate(order):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(s, work[s][k])))
        if rss_every and time.perf_counter() >= next_rss:
            samples.append((time.perf_counter() - start, rss_mb(gw.pid)[0]))
            next_rss += rss_every
    await asyncio.gather(*tasks)
    after = await messages_so_far(gw)
    copies = len(sub.secrets)
    await wait_for(sub, (base + (after[0] - before[0]) * copies, base_xml + after[1] - before[1]), 60)
    for lane in lanes:
        lane.close()
    latencies = []
    for webhook_id, (arrived, stay) in list(sub.arrived.items())[base:]:
        times = [t for t in sent.get(stay, ()) if t <= arrived]
        if times:
            latencies.append(arrived - times[-1])  # the latest event of the stay sent before arrival
        del webhook_id
    return latencies, samples


# ---------------------------------------------------------------- floors


def floor_mllp(messages: int) -> float:
    """bench_mllp.py's floor (framing, one durable INSERT per message with group commit, an ACK),
    over 8 connections."""
    rate, _ = floor(messages, (8,))[0]
    FLOORS["mllp"] = rate
    return rate


FLOORS: dict[str, float] = {}  # what the hardware allows, measured in this run (filled by the floors)


def kith_stage(report: bytes, repeat: int = 200) -> None:
    """Render and validate one delivered Utskrivningsrapport as KITH XML, alone: the stage's cost,
    beside the XML floor measured in the same run."""
    from adapters.kith.render import render_element, serialize
    from adapters.kith.xsd import KithSchemas
    from gateway.config import KITH_SCHEMAS

    schemas = KithSchemas(KITH_SCHEMAS)
    bundle = orjson.loads(report)
    t0 = time.process_time()
    for _ in range(repeat):
        doc = render_element(bundle)
        schemas.errors(doc)
        serialize(doc)
    per = (time.process_time() - t0) / repeat
    ratio = f" = {per / FLOORS['xml']:.1f} × the XML floor" if FLOORS.get("xml") else ""
    print(f"  KITH stage:    render + validate one Utskrivningsrapport {per * 1000:.2f} ms CPU{ratio}")


def floor_xml(repeat: int) -> float | None:
    from lxml import etree

    from adapters.kith.xsd import KithSchemas

    examples = SHARED / "standards" / "kith" / "examples"
    if not (SHARED / "standards" / "kith" / "xsd").exists():
        print("  floor, XML: ../shared is not beside the project; skipped")
        return None
    # an official MsgHead + PLO 1.6 message, the size of what the gateway renders
    row = next(
        line.split("\t")
        for line in (examples / "INDEX.tsv").read_text(encoding="utf-8").splitlines()
        if "\tLOG_UTSKREVET\t" in line and "2012-04-01" in line and line.endswith("VALID")
    )
    example = examples.parent / row[0]
    schemas = KithSchemas(SHARED / "standards" / "kith" / "xsd")
    raw = example.read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    t0 = time.process_time()
    for _ in range(repeat):
        doc = etree.fromstring(raw, parser)
        etree.tostring(doc)
        schemas.errors(doc)
    per = FLOORS["xml"] = (time.process_time() - t0) / repeat
    print(
        f"  floor, XML parse + serialise + XSD validate ({example.name}, {len(raw):,} bytes): "
        f"{per * 1000:.3f} ms CPU"
    )
    return per


# ---------------------------------------------------------------- main


async def run(args: argparse.Namespace, gw: Gateway) -> None:
    sub = Subscriber()
    runner = await subscribe(gw, sub, free_port(), args.subscribers)
    people = person_numbers(args.stays + int(args.rate * max(args.seconds, args.soak_minutes * 60) / 5) + 60)
    await throughput(gw, sub, 20, 4, people[-20:], "W")  # warm-up
    await throughput(gw, sub, args.stays, args.lanes, people[: args.stays])
    if sub.report:
        kith_stage(sub.report)
    if args.seconds > 0:
        lat, _ = await at_rate(gw, sub, args.rate, args.seconds, people[args.stays :], "L")
        print(
            f"latency at {args.rate:.0f} events/s for {args.seconds:.0f} s: {len(lat)} messages, "
            f"event sent -> subscriber 2xx {q(lat)}"
        )
    if args.soak_minutes:
        _, samples = await at_rate(
            gw, sub, args.rate, args.soak_minutes * 60, people[args.stays :], "S", rss_every=10
        )
        first, last = samples[0][1], samples[-1][1]
        half = samples[len(samples) // 2 :]
        slope = (half[-1][1] - half[0][1]) / max(1e-9, (half[-1][0] - half[0][0]) / 60)
        print(
            f"soak {args.soak_minutes:.0f} min at {args.rate:.0f} events/s: RSS {first:.0f} MB at start, "
            f"{last:.0f} MB at end, second half slope {slope:+.2f} MB/min"
        )
    cur, peak = rss_mb(gw.pid)
    print(
        f"gateway RSS (main process and its workers): now {cur:.0f} MB, peak {peak:.0f} MB; "
        f"signature failures at the subscriber: {sub.bad}"
    )
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stays", type=int, default=400)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument(
        "--subscribers", type=int, default=1, help="FHIR JSON push subscriptions (plus one KITH XML)"
    )
    parser.add_argument("--medications", type=int, default=4, help="drugs in each Utskrivningsrapport")
    parser.add_argument("--no-floors", action="store_true", help="skip the floors (for series of runs)")
    args = parser.parse_args()
    global DRUGS
    DRUGS = args.medications
    print(
        f"End to end, {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores; "
        f"{args.subscribers} FHIR JSON subscription(s) + 1 KITH XML, {args.medications} drugs per report"
    )
    print("floors (what the hardware allows):")
    if not args.no_floors:
        floor_mllp(max(300, args.stays * 2))
        floor_xml(200)
    with running_gateway() as gw:
        asyncio.run(run(args, gw))


if __name__ == "__main__":
    main()
