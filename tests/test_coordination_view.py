"""What coordination staff see: who is ready and for how long, what is missing after discharge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.clock import ManualClock
from tests import builders as b
from tests.conftest import Client, auth_headers, settings_for


async def test_ready_patients_with_days_waiting_and_discharges_missing_documents(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 8, 9, 0, tzinfo=UTC))
    settings = settings_for(tmp_path)
    server = TestServer(build_app(settings, clock), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(headers=auth_headers(settings)) as session:
        gw = Client(str(server.make_url("")).rstrip("/"), session, settings)
        await gw.post_event(b.message("A01", b.patient(), b.encounter("R1")))
        await gw.post_event(
            b.message(
                "A16",
                b.patient(),
                b.encounter("R1", ready="2026-11-05T09:00:00+01:00"),
                event_time="2026-11-05T09:00:00+01:00",
            )
        )
        await gw.post_event(b.message("A01", b.patient(b.FNR_NO_GP), b.encounter("D1")))
        await gw.post_event(
            b.message(
                "A03",
                b.patient(b.FNR_NO_GP),
                b.encounter("D1", end="2026-11-07T11:00:00+01:00"),
                event_time="2026-11-07T11:00:00+01:00",
            )
        )
        report = b.composition("UR-D1")
        await gw.post_event(b.message("T02", b.patient(b.FNR_NO_GP), b.encounter("D1"), report, focus=report))
        status, ready = await gw.get_json("/stays?status=ready")
        assert status == 200 and len(ready["stays"]) == 1
        assert ready["stays"][0]["daysWaitingSinceReady"] == 4  # 5, 6, 7 and 8 November
        clock.advance(timedelta(days=1))
        assert (await gw.get_json("/stays?status=ready"))[1]["stays"][0]["daysWaitingSinceReady"] == 5
        _, discharged = await gw.get_json("/stays?status=discharged")
        assert discharged["stays"][0]["missingDocuments"] == ["EPIKRISE"]
        assert "Nordmann" not in str(ready) + str(discharged)
        assert (await gw.get_json("/stays?status=nonsense"))[0] == 400
    await server.close()
