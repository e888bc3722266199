"""A real gateway (loopback HTTP, SQLite file, the national rule pack) on a clock the test moves.

Events are posted "as they happen": the clock is set to the moment the hospital record would
have sent them, so the gateway's send times are the times a real run would have recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.app import WATCHER, build_app
from gateway.clock import ManualClock, parse_fhir_datetime
from gateway.compliance.watcher import DeadlineWatcher
from gateway.config import NATIONAL_RULES
from tests import builders as b
from tests.conftest import Client, auth_headers, settings_for

ALLOCATION, NURSING, GP = "8100012", "8100011", "9100001"


@dataclass
class Scene:
    client: Client
    app: web.Application
    clock: ManualClock

    @property
    def watcher(self) -> DeadlineWatcher:
        return self.app[WATCHER]

    def at(self, when: str) -> None:
        """Move the clock to a time (FHIR dateTime; local times are Oslo)."""
        target = parse_fhir_datetime(when)
        self.clock.advance(target - self.clock.now())

    async def post(self, when: str, event: str, *resources: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """Post an event at `when` (clock moved there), its event time `when` unless given."""
        self.at(kw.pop("arrives", when))
        status, body = await self.client.post_event(
            b.message(event, *resources, event_time=kw.pop("event_time", when), **kw)
        )
        assert status == 200, body
        return body

    async def get(self, path: str) -> Any:
        status, body = await self.client.get_json(path)
        assert status == 200, (path, body)
        return body

    async def text(self, path: str) -> tuple[int, str, dict[str, str]]:
        async with self.client.session.get(self.client.base + path) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def stay_id(self, visit: str = "V1") -> int:
        stays = (await self.get("/stays"))["stays"]
        ids = sorted(s["stayId"] for s in stays)
        return ids[0] if visit == "V1" else ids[int(visit[1:]) - 1]

    async def message_ids(self, her: str, message_type: str) -> list[str]:
        return [e["messageId"] for e in await self.client.feed(her) if e["messageType"] == message_type]

    async def receipt(self, when: str, message_id: str, code: str = "ok") -> None:
        """A FHIR acknowledgement for one of our messages, arriving at `when`."""
        self.at(when)
        ack = {
            "resourceType": "Bundle",
            "type": "message",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MessageHeader",
                        "eventCoding": {"code": "acknowledgement"},
                        "response": {"identifier": message_id, "code": code},
                    }
                }
            ],
        }
        async with self.client.session.post(
            self.client.base + "/receipts",
            data=orjson.dumps(ack),
            headers={"Content-Type": "application/fhir+json"},
        ) as resp:
            assert resp.status == 201, await resp.text()


async def scene(tmp_path: Path, start: str, **overrides: Any) -> AsyncIterator[Scene]:
    clock = ManualClock(datetime.fromisoformat(start))
    settings = settings_for(
        tmp_path, rule_packs=str(NATIONAL_RULES), watch_interval_seconds=3600, **overrides
    )
    app = build_app(settings, clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(headers=auth_headers(settings)) as session:
        yield Scene(Client(str(server.make_url("")).rstrip("/"), session, settings), app, clock)
    await server.close()


def complete_epikrise(
    visit: str, start: str, end: str, when: str, patient: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An epikrise the national rules let through (main diagnosis, reason, course, follow-up,
    responsibility, medication section, author), sent at `when`."""
    from adapters.fhir import codes
    from tests.rules.complete_stay import CompleteStay, section

    comp = b.composition(f"EPI-{visit}", codes.LOINC_EPIKRISE, date=when, sections={})
    comp["section"] = [
        section("AA", "Innlagt med hjertesvikt.", codes.SECTION_8311),
        section("FB", "Diuretika i.v., god respons.", codes.SECTION_8311),
        section("OP", "Fastlege kontrollerer kreatinin om 1 uke.", codes.SECTION_8311),
        section("ME", None, codes.SECTION_8311),
        section("responsibility", "Fastlegen overtar oppfølgingen."),
    ]
    condition = CompleteStay().conditions[0]
    return b.message(
        "T02",
        patient or b.patient(),
        b.encounter(visit, start=start, end=end),
        comp,
        condition,
        focus=comp,
        event_time=when,
    )
