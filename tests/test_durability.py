"""State survives a clean restart and `kill -9`: what was acknowledged is there afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from benchmarks._server import dev_auth, free_port, start_gateway, wait_until_up
from gateway.app import build_app
from tests import builders as b
from tests.conftest import settings_for

URL = "/fhir/$process-message"


async def _post(session: aiohttp.ClientSession, base: str, body: bytes) -> tuple[int, bytes]:
    async with session.post(base + URL, data=body, headers={"Content-Type": "application/fhir+json"}) as resp:
        return resp.status, await resp.read()


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    event = orjson.dumps(b.message("A01", b.patient(), b.encounter()))
    answers = []
    for _ in range(2):
        server = TestServer(build_app(settings), host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(headers=dev_auth(settings.data_dir)) as session:
            answers.append(await _post(session, base, event))
            async with session.get(base + "/feed/8100011") as resp:
                feed = orjson.loads(await resp.read())["entries"]
        await server.close()
        assert len(feed) == 1
    assert answers[0] == answers[1]  # after the restart, the same id is recognised as a duplicate


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    proc = start_gateway(data_dir, port, free_port())
    wait_until_up(f"http://127.0.0.1:{port}", proc)
    return proc


@pytest.mark.slow
async def test_nothing_acknowledged_is_lost_on_kill_9(tmp_path: Path) -> None:
    """Under load, kill -9; after restart every acknowledged event is answered as a duplicate with
    the very answer it got before the kill, which the gateway can only know if it was stored."""
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port)
    acknowledged: dict[bytes, bytes] = {}
    try:
        bodies = [orjson.dumps(b.message("A01", b.patient(), b.encounter(f"K{n}"))) for n in range(3000)]
        queue = list(bodies)

        async def client(session: aiohttp.ClientSession) -> None:
            while queue:
                body = queue.pop()
                try:
                    status, answer = await _post(session, base, body)
                except aiohttp.ClientError:
                    return
                if status == 200:
                    acknowledged[body] = answer

        async with aiohttp.ClientSession(headers=dev_auth(data_dir)) as session:
            clients = [asyncio.create_task(client(session)) for _ in range(8)]
            deadline = time.monotonic() + 60
            while len(acknowledged) < 200:
                assert time.monotonic() < deadline, "the gateway did not acknowledge events"
                await asyncio.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.gather(*clients)
        proc.wait()
        assert 200 <= len(acknowledged) < len(bodies)
        proc = _start(data_dir, port)
        async with aiohttp.ClientSession(headers=dev_auth(data_dir)) as session:
            for body, answer in acknowledged.items():
                assert await _post(session, base, body) == (200, answer)
            async with session.get(base + "/feed/8100011?limit=500") as resp:
                assert len(orjson.loads(await resp.read())["entries"]) >= min(500, len(acknowledged))
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.sqlite_only  # SQLite's own write-ahead log file; PostgreSQL manages its WAL itself
async def test_the_write_ahead_log_stays_bounded_under_steady_intake(tmp_path: Path) -> None:
    """Checkpoints must keep up: a WAL that only grows makes every commit slower (it did once)."""
    from gateway.app import build_parts

    parts = await build_parts(settings_for(tmp_path))
    try:
        for chunk in range(4):
            await asyncio.gather(
                *(
                    parts.intake.fhir_message(
                        orjson.dumps(b.message("A01", b.patient(), b.encounter(f"W{chunk}-{n}")))
                    )
                    for n in range(150)
                )
            )
        wal = parts.settings.database.with_name(parts.settings.database.name + "-wal")
        assert wal.stat().st_size < 8 * 1024 * 1024
    finally:
        await parts.close()
