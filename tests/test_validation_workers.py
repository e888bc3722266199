"""FHIR model validation in worker processes gives the same verdicts, and survives a worker crash."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import aiohttp
import orjson
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.http.routes import INTAKE
from gateway.intake.validators import ValidatorPool
from tests import builders as b
from tests.conftest import auth_headers, settings_for


async def test_worker_verdicts_match_in_process_validation() -> None:
    from adapters.fhir.inbound import bundle_problems

    good = b.message("A01", b.patient(), b.encounter())
    bad = b.message("A01", b.patient(), b.encounter())
    bad["entry"][2]["resource"]["gender"] = 42
    pool = ValidatorPool(1)
    await pool.start()
    try:
        assert await pool.check(orjson.dumps(good)) == []
        assert await pool.check(orjson.dumps(bad)) == bundle_problems(bad)
    finally:
        await pool.close()


async def test_a_killed_worker_is_replaced_and_the_event_can_be_sent_again(tmp_path: Path) -> None:
    server = TestServer(build_app(settings_for(tmp_path, validation_workers=1)), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/fhir/$process-message"))
    try:
        async with aiohttp.ClientSession(headers=auth_headers(settings_for(tmp_path))) as session:
            async with session.post(
                url, data=orjson.dumps(b.message("A01", b.patient(), b.encounter("a")))
            ) as r:
                assert r.status == 200
            intake = server.app[INTAKE]
            os.kill(intake.validator.workers[0].proc.pid, signal.SIGKILL)
            await intake.validator.workers[0].proc.wait()
            body = orjson.dumps(b.message("A01", b.patient(), b.encounter("b")))
            async with session.post(url, data=body) as r:
                assert r.status in (200, 503)  # 503 (transient) if the crash was noticed mid-request
            async with session.post(url, data=body) as r:
                assert r.status == 200
    finally:
        await server.close()
