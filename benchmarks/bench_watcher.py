"""The deadline watcher and the compliance report over many stays: what one evaluation step costs.

    python benchmarks/bench_watcher.py [--stays 2000]

Builds a gateway in-process (real SQLite file, the national rule pack, a manual clock), admits,
readies and discharges `--stays` patients without documents, then times: a watcher step that
records every missed deadline, a step that finds nothing new (the steady state, every interval),
the month's compliance report, and one stay's waiting days.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_delivery import person_numbers
from gateway import logs
from gateway.app import build_compliance, build_parts, watcher_settings
from gateway.clock import ManualClock, parse_fhir_datetime
from gateway.compliance.watcher import DeadlineWatcher
from gateway.config import NATIONAL_RULES, load_settings
from tests import builders as b


async def run(stays: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env={},
            overrides={
                "data_dir": Path(tmp),
                "validation_workers": 0,
                "render_workers": 0,
                "rule_packs": str(NATIONAL_RULES),
            },
        )
        clock = ManualClock(datetime.fromisoformat("2024-03-04T08:00:00+01:00"))
        parts = await build_parts(settings, clock)
        try:
            people = person_numbers(stays)
            t0 = time.perf_counter()
            for n, person in enumerate(people):
                start = "2024-03-04T09:00:00+01:00"
                for code, when, kw in (
                    ("A01", start, {}),
                    ("A16", "2024-03-06T10:00:00+01:00", {"ready": "2024-03-06T10:00:00+01:00"}),
                    ("A03", "2024-03-08T11:00:00+01:00", {"end": "2024-03-08T11:00:00+01:00"}),
                ):
                    clock.advance(parse_fhir_datetime(when) - clock.now())
                    bundle = b.message(
                        code, b.patient(person), b.encounter(f"B{n}", start=start, **kw), event_time=when
                    )
                    reply = await parts.intake.fhir_message(orjson.dumps(bundle))
                    assert reply.status == 200
                clock.advance(parse_fhir_datetime("2024-03-04T09:00:00+01:00") - clock.now())
            load = time.perf_counter() - t0
            print(f"loaded {stays} stays ({3 * stays} events) in {load:.1f} s")
            watcher = DeadlineWatcher(
                parts.store, clock, parts.pipeline.rules, parts.intake.metrics, watcher_settings(settings)
            )
            clock.advance(parse_fhir_datetime("2024-03-12T12:00:00+01:00") - clock.now())
            t0 = time.perf_counter()
            new = await watcher.step()
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = await watcher.step()
            steady = time.perf_counter() - t0
            per = 1e6 / stays
            print(
                f"watcher step recording {len(new)} items: {first * 1000:.0f} ms "
                f"({first * per:.0f} µs per stay)"
            )
            print(
                f"watcher step, nothing new ({len(again)}): {steady * 1000:.0f} ms "
                f"({steady * per:.0f} µs per stay)"
            )
            compliance = build_compliance(parts)
            t0 = time.perf_counter()
            report = await compliance.report(date(2024, 3, 1), date(2024, 3, 31))
            took = time.perf_counter() - t0
            days = report["total"]["waitingDays"]
            print(f"compliance report over {stays} stays: {took * 1000:.0f} ms; waiting days {days}")
            t0 = time.perf_counter()
            await compliance.waiting_days(1)
            print(f"one stay's waiting days: {(time.perf_counter() - t0) * 1000:.1f} ms")
        finally:
            await parts.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stays", type=int, default=2000)
    args = parser.parse_args()
    logs.configure("error")  # every missed deadline logs a warning: not what is measured
    asyncio.run(run(args.stays))


if __name__ == "__main__":
    main()
