"""CPU time to render one Utskrivningsrapport to KITH XML and validate it against the official
schemas, exactly as the gateway does before sending (gateway/render/kith_output.py: Bundle JSON →
lxml tree → bytes → hardened parse → XSD validation), for 1, 10 and 40 medications.

The Bundles are made by the real pipeline: a gateway's intake and store in a temporary folder take an
admission, a discharge and an Utskrivningsrapport carrying the medications.

    python benchmarks/bench_kith_render.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.fhir import codes
from gateway.app import build_parts
from gateway.clock import SystemClock
from gateway.config import KITH_SCHEMAS, load_settings
from gateway.render.kith_output import KithOutput
from tests import builders as b

NURSING = "8100011"
TARGET_MS = 2.0


def medications(n: int) -> list[dict]:
    return [
        b.medication(f"C09AA{i:02d}", f"Legemiddel {i}", f"{i} mg x 2", reason="Justert etter blodtrykk")
        for i in range(n)
    ]


async def report_bundle(n: int) -> tuple[str, bytes]:
    """The Utskrivningsrapport (N) the pipeline writes for a stay whose report lists `n` drugs."""
    with tempfile.TemporaryDirectory() as tmp:
        # the rendering is measured, not the handover rules: without packs this partial report is sent
        overrides = {"data_dir": Path(tmp), "validation_workers": 0, "render_workers": 0, "rule_packs": ""}
        settings = load_settings(env={}, overrides=overrides)
        parts = await build_parts(settings)
        try:
            enc = b.encounter("B1", end="2026-11-07T11:00:00+01:00", disposition="home")
            events = [
                b.message("A01", b.patient(), b.encounter("B1")),
                b.message("A03", b.patient(), enc, event_time="2026-11-07T11:00:00+01:00"),
            ]
            sections = {"AA": "Pneumoni.", "OP": "Kontroll om 1 uke."}
            doc = b.composition("DOC-B", codes.LOINC_UTSKRIVNINGSRAPPORT, sections=sections)
            events.append(b.message("T02", b.patient(), enc, doc, *medications(n), focus=doc))
            for event in events:
                reply = await parts.intake.fhir_message(orjson.dumps(event))
                assert reply.status == 200, reply.body
            rows = await parts.store.read(lambda r: r.feed(NURSING, 0, 100))
            row = next(r for r in rows if r.message_type == "UTSKRIVNINGSRAPPORT")
            full = await parts.store.read(lambda r: r.outbound(row.message_id))
            assert full is not None and full.payload is not None
            return row.message_id, full.payload
        finally:
            await parts.close()


def measure(output: KithOutput, message_id: str, payload: bytes, rounds: int) -> tuple[float, int]:
    """Median CPU milliseconds per message over batches of `rounds`, and the rendered size."""
    made = output.render(message_id, payload)
    assert made.status == "valid", made.errors
    batches = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(rounds):
            output.render(message_id, payload)
        batches.append((time.process_time() - start) / rounds * 1000)
    return statistics.median(batches), len(made.body or b"")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2000, help="renders per timed batch (5 batches)")
    args = parser.parse_args()
    output = KithOutput.from_folder(None, SystemClock(), KITH_SCHEMAS, None)  # type: ignore[arg-type]
    print(f"render + validate one Utskrivningsrapport (CPU, median of 5 batches of {args.rounds})")
    for n in (1, 10, 40):
        message_id, payload = asyncio.run(report_bundle(n))
        ms, size = measure(output, message_id, payload, args.rounds)
        mark = f"  (target < {TARGET_MS} ms: {'met' if ms < TARGET_MS else 'NOT met'})" if n == 10 else ""
        print(f"{n:3d} medications: {ms:.3f} ms CPU per message, {size} bytes of XML{mark}")


if __name__ == "__main__":
    main()
