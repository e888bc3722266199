"""Each benchmark runs for a moment, so none of them rots; the figures themselves are not judged here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pg_server

ROOT = Path(__file__).resolve().parents[1]

RUNS = {
    "bench_fhir_intake.py": (["--events", "150", "--connections", "4", "--respond-async"], "all processed"),
    "bench_mllp.py": (["--messages", "100", "--seconds", "0.2"], "ACKed messages/s"),
    "bench_e2e.py": (["--stays", "10", "--lanes", "2", "--rate", "20", "--seconds", "1"], "events/s"),
    "bench_kith_render.py": (["--rounds", "20"], "ms CPU per message"),
    "bench_delivery.py": (["--messages", "120", "--rate", "60", "--seconds", "1"], "deliveries/s"),
    "bench_delivery.py --cold": (["--messages", "60", "--seconds", "0", "--cold"], "redelivered once idle"),
    "bench_kith_inbound.py": (["--rounds", "50"], "CPU per document"),
    "bench_cipher.py": (["--events", "200"], "seals/s"),
    "bench_watcher.py": (["--stays", "10"], "watcher step"),
    "bench_rules.py": (["--repeat", "40", "--intake-events", "20"], "rule evaluations"),
    "bench_instances.py": (["--patients", "10", "--connections", "2"], "postgresql-2"),
    "bench_webhook_client.py": (["--requests", "100", "--rounds", "1"], "client CPU"),
    "bench_webhook_client.py --memory": (["--memory", "2", "--requests", "200"], "refused): RSS"),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_runs(script: str) -> None:
    args, expect = RUNS[script]
    if script == "bench_instances.py" and pg_server.server_binaries() is None:
        if os.environ.get("GATEWAY_REQUIRE_POSTGRES"):
            pytest.fail("no PostgreSQL server binaries")
        pytest.skip("no PostgreSQL server binaries for the instances benchmark")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script.split()[0]), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert expect in result.stdout


def test_every_benchmark_has_a_smoke_run() -> None:
    scripts = {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts == {run.split()[0] for run in RUNS}
