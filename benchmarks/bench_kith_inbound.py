"""Inbound KITH XML, CPU per document: the hardened parse, validation against every official schema,
reading, and our AppRec answer — for the official Dialogmelding 'svar' and AppRec examples, and the
time to refuse a billion-laughs document.

    python benchmarks/bench_kith_inbound.py [--rounds 2000]

Reads the examples from ../shared (a development checkout); the gateway itself does not need them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.kith.apprec import render_apprec
from adapters.kith.inbound import KithRejected, read_inbound
from adapters.kith.xsd import KithSchemas
from gateway.config import KITH_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT.parent / "shared" / "standards" / "kith" / "examples" / "sarepta" / "eksempel"
DIALOG = EXAMPLES / "Dialogmelding" / "Dialogmelding-v1-0" / "Dialogmelding_svar_foresporsel_PLO_v1-0.xml"
APPREC = EXAMPLES / "NPRbehandlerkravmelding" / "apprec-eksempel.xml"
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {"b" * (n + 1)} "{("&" + "b" * n + ";") * 10 if n else "&a;" * 10}">'.encode()
        for n in range(9)
    )
    + b"]><l>&bbbbbbbbb;</l>"
)


def cpu_per_call(label: str, rounds: int, call: object) -> None:
    assert callable(call)
    call()  # warm
    start = time.process_time()
    for _ in range(rounds):
        call()
    per = (time.process_time() - start) / rounds * 1e6
    print(f"{label:<55} {per:8.1f} µs CPU per document")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    start = time.process_time()
    schemas = KithSchemas(KITH_SCHEMAS)
    compiled = (time.process_time() - start) * 1e3
    print(f"{'compile the official schemas (once, at start-up)':<55} {compiled:8.1f} ms CPU")
    dialog, apprec = DIALOG.read_bytes(), APPREC.read_bytes()

    def receive_dialog() -> None:
        found = read_inbound(dialog, schemas).dialog
        assert found is not None
        render_apprec(found.header, "1", [], "00000000-0000-4000-8000-000000000000", "2026-11-24T00:00:00Z")

    def receive_apprec() -> None:
        assert read_inbound(apprec, schemas).apprec is not None

    def refuse_laughs() -> None:
        try:
            read_inbound(LAUGHS, schemas)
        except KithRejected:
            return
        raise AssertionError("billion laughs accepted")

    cpu_per_call("Dialogmelding: parse, validate, read, AppRec answer", args.rounds, receive_dialog)
    cpu_per_call("AppRec v1.0: parse, validate, read", args.rounds, receive_apprec)
    cpu_per_call("billion laughs: refused", args.rounds, refuse_laughs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
