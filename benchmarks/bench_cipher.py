"""Encryption at rest, alone: CPU per seal and open of the values one FHIR A01 event stores
(its inbound body, the stay state, the event's resources, three outbound payloads), so the cost
per 1,000 events can be read without the noise of a whole-gateway run."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.store.cipher import load_keys, new_key_line
from tests import builders


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys"
        keys.write_text(new_key_line("k1") + "\n")
        cipher = load_keys(keys)
    body = orjson.dumps(builders.message("A01", builders.patient(), builders.encounter("C1")))
    # one event stores about six values of roughly the inbound body's size (measured shapes differ;
    # the body is the largest of them for an A01), and the stay fold reads the events back
    values = [body] * 6
    sealed = [cipher.seal(v, f"row|{n}") for n, v in enumerate(values)]
    started = time.process_time()
    for _ in range(args.events):
        for n, v in enumerate(values):
            cipher.seal(v, f"row|{n}")
    seal = time.process_time() - started
    started = time.process_time()
    for _ in range(args.events):
        for n, v in enumerate(sealed):
            cipher.open(v, f"row|{n}")
    open_ = time.process_time() - started
    print(f"AES-256-GCM at rest: {args.events} events x {len(values)} values of {len(body)} bytes")
    per_1000 = 1000 / args.events
    print(f"  seal {seal * per_1000:.3f} s CPU per 1,000 events, open {open_ * per_1000:.3f} s")
    print(f"  {args.events * len(values) / seal:,.0f} seals/s")


if __name__ == "__main__":
    main()
