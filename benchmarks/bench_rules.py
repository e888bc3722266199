"""Rule checking over one discharge, national + example local pack, expressions compiled once at load.

Four figures:
- the discharge-day stay with every message of the stay still unsent, so every rule that applies
  to any of them runs (the most one event can cost; `gate` only);
- the A03 discharge event, and the Utskrivningsrapport (T02) after it, as the pipeline meets
  them (the earlier events' messages already sent): fold, route, desired notices, plan and
  gate, i.e. all the pipeline work of one unit but the store's;
- what the rules add to an A01 unit (each a new stay), with and without packs.

CPU time of this thread is reported beside wall time: the machine is shared, and CPU time is
what other work on it inflates least.

    python benchmarks/bench_rules.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.directory.embedded import DEMO_DIRECTORY, EmbeddedDirectory, entries_from_file
from gateway.pipeline.events import event_from_bundle
from gateway.pipeline.ledger import plan
from gateway.pipeline.notices import desired_notices
from gateway.pipeline.routing import route
from gateway.pipeline.stay import fold
from gateway.rules.gate import gate
from gateway.rules.model import RuleSet
from gateway.rules.offline import OfflineStays
from gateway.rules.packs import LOCAL_EXAMPLE_PACK, load_packs
from gateway.store.base import StayEventRow
from tests import builders
from tests.rules.complete_stay import CompleteStay

NOW = "2026-11-24T00:00:00Z"


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return wall, cpu


def report(label: str, samples: tuple[list[float], list[float]], evaluated: int) -> None:
    wall, cpu = samples
    print(
        f"{label}: {evaluated} rule evaluations; CPU median {statistics.median(cpu) * 1000:.3f} ms, "
        f"p90 {statistics.quantiles(cpu, n=10)[8] * 1000:.3f} ms; "
        f"wall median {statistics.median(wall) * 1000:.3f} ms per check"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument(
        "--intake-events", type=int, default=0, help="also time A01s through the real intake (e.g. 1000)"
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    rules = load_packs([LOCAL_EXAMPLE_PACK])
    load_ms = (time.perf_counter() - t0) * 1000
    directory = EmbeddedDirectory(entries_from_file(DEMO_DIRECTORY))
    events = [event_from_bundle(bundle, NOW) for bundle in CompleteStay().events()]
    rows = [StayEventRow(n, e.event_code, e.event_time, e.resources) for n, e in enumerate(events, 1)]
    print(f"Rule packs {', '.join(rules.packs)}: {len(rules.rules)} rules, compiled in {load_ms:.0f} ms")

    state = fold(rows)
    to = route(state, events[2].sender_her, directory, directory)
    desired = desired_notices(state, to, gp_notices=True, report_copy_to_gp=True)
    actions = plan(desired, [])
    pairs = sum(
        1
        for a in actions
        if a.notice
        for r in rules.by_message.get(a.notice.message_type, ())
        if not r.recipients or a.notice.recipient.kind in r.recipients
    ) + len(rules.by_event.get("A03", ()))
    checked = gate(rules, actions, state, to, "A03")
    assert not checked.findings, checked.findings  # the complete stay passes every rule
    report(
        f"discharge-day stay, {len(actions)} messages unsent, {pairs} rule/message pairs (gate)",
        timed(lambda: gate(rules, plan(desired, []), state, to, "A03"), args.repeat),
        checked.evaluated,
    )

    a01_overhead(max(50, args.repeat // 2))
    if args.intake_events:
        intake_overhead(args.intake_events)
    for n, label in ((2, "A03 discharge event"), (3, "T02 Utskrivningsrapport on the discharge day")):

        def prepare(n: int = n) -> OfflineStays:
            stays = OfflineStays(rules, directory, directory)
            for e in events[:n]:
                stays.check(e)
            return stays

        prepared = [prepare() for _ in range(max(1, args.repeat // 4))]
        evaluated = prepare().check(events[n]).evaluated
        it = iter(prepared)
        report(
            f"{label} as the pipeline meets it (fold, route, notices, plan, gate)",
            timed(lambda n=n, it=it: next(it).check(events[n]), len(prepared)),
            evaluated,
        )


def a01_overhead(repeat: int) -> None:
    """What the rules add to the commonest event: A01 units (each a new stay) with and without packs."""
    directory = EmbeddedDirectory(entries_from_file(DEMO_DIRECTORY))
    bundles = [
        builders.message("A01", builders.patient(), builders.encounter(f"V{n}")) for n in range(repeat)
    ]
    events = [event_from_bundle(bundle, NOW) for bundle in bundles]
    sets = {"no packs": RuleSet(), "national + local": load_packs([LOCAL_EXAMPLE_PACK])}
    cpu: dict[str, list[float]] = {name: [] for name in sets}
    for _ in range(5):  # alternated, so a noisy moment hits both
        for name, rules in sets.items():
            stays = OfflineStays(rules, directory, directory)
            c0 = time.thread_time()
            for e in events:
                stays.check(e)
            cpu[name].append((time.thread_time() - c0) / len(events))
    med = {name: statistics.median(v) * 1000 for name, v in cpu.items()}
    print(
        "A01 unit (fold, route, notices, plan, gate; no store): "
        + ", ".join(f"{name} {ms:.3f} ms" for name, ms in med.items())
        + f"; the rules add {med['national + local'] - med['no packs']:.3f} ms CPU per A01"
    )


def intake_overhead(events: int, rounds: int = 5) -> None:
    """A01 through the real intake in-process (decode, validation, pipeline, SQLite commit), no
    packs and the national pack alternated: the rules' share of a whole unit of work."""
    import asyncio
    import tempfile

    import orjson

    from gateway import logs
    from gateway.app import build_parts
    from gateway.config import NATIONAL_RULES, load_settings

    logs.configure("warning", sys.stderr)

    async def run(packs: str, tag: str) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                env={},
                overrides={
                    "data_dir": Path(tmp),
                    "validation_workers": 0,
                    "render_workers": 0,
                    "mllp_port": 0,
                    "rule_packs": packs,
                },
            )
            parts = await build_parts(settings)
            bodies = [
                orjson.dumps(builders.message("A01", builders.patient(), builders.encounter(f"{tag}{i}")))
                for i in range(events + 200)
            ]
            for body in bodies[:200]:  # warm up
                await parts.intake.fhir_message(body)
            c0 = time.process_time()
            for body in bodies[200:]:
                assert (await parts.intake.fhir_message(body)).status == 200
            cpu = (time.process_time() - c0) / events * 1000
            await parts.close()
            return cpu

    async def rounds_of() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"no packs": [], "national": []}
        for r in range(rounds):
            out["no packs"].append(await run("", f"n{r}-"))
            out["national"].append(await run(str(NATIONAL_RULES), f"r{r}-"))
        return out

    res = asyncio.run(rounds_of())
    med = {k: statistics.median(v) for k, v in res.items()}
    print(
        f"A01 intake in-process ({events} events x {rounds} rounds, validation on the loop, SQLite): "
        + ", ".join(f"{k} {m:.3f} ms" for k, m in med.items())
        + f" CPU per event (median); the rules add {med['national'] - med['no packs']:.3f} ms "
        f"({(med['national'] / med['no packs'] - 1) * 100:+.1f} %)"
    )


if __name__ == "__main__":
    main()
