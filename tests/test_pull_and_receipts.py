"""The pull feed per subscription (event numbers, long-polling, acknowledgement) and receipts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.clock import ManualClock
from tests import builders as b
from tests.conftest import Client, auth_headers, settings_for

NURSING = "8100011"


async def pull_subscription(gateway: Client, her: str = NURSING) -> str:
    body = {"herIds": [her], "mode": "pull"}
    async with gateway.session.post(gateway.base + "/subscriptions", data=orjson.dumps(body)) as resp:
        assert resp.status == 201
        return str((await resp.json())["id"])


async def test_events_are_numbered_consecutively_per_subscription(gateway: Client) -> None:
    sub = await pull_subscription(gateway)
    for n in range(3):
        await gateway.post_event(b.message("A01", b.patient(), b.encounter(f"V{n}")))
    status, page = await gateway.get_json(f"/subscriptions/{sub}/events?after=0&limit=2")
    assert status == 200 and [e["eventNumber"] for e in page["events"]] == [1, 2]
    status, rest = await gateway.get_json(f"/subscriptions/{sub}/events?after={page['nextCursor']}")
    assert [e["eventNumber"] for e in rest["events"]] == [3]
    assert all(e["messageType"] == "LOG_INNLAGT" for e in page["events"] + rest["events"])


async def test_a_long_poll_returns_within_a_second_of_a_new_message(gateway: Client) -> None:
    sub = await pull_subscription(gateway)

    async def poll() -> tuple[float, list[dict[str, object]]]:
        status, body = await gateway.get_json(f"/subscriptions/{sub}/events?after=0&wait=10")
        assert status == 200
        return time.monotonic(), body["events"]

    waiting = asyncio.create_task(poll())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # nothing yet: it waits
    sent = time.monotonic()
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("V1")))
    arrived, events = await waiting
    assert len(events) == 1 and arrived - sent < 1.0


async def test_acknowledgement_marks_events_delivered(gateway: Client) -> None:
    sub = await pull_subscription(gateway)
    for n in range(3):
        await gateway.post_event(b.message("A01", b.patient(), b.encounter(f"V{n}")))
    async with gateway.session.post(
        gateway.base + f"/subscriptions/{sub}/ack", data=orjson.dumps({"upTo": 2})
    ) as r:
        assert (await r.json())["acknowledged"] == 2
    _status, body = await gateway.get_json(f"/subscriptions/{sub}/events")
    assert [e["status"] for e in body["events"]] == ["delivered", "delivered", "pending"]
    async with gateway.session.post(gateway.base + f"/subscriptions/{sub}/ack", data=b'{"upTo": "x"}') as r:
        assert r.status == 422


def fhir_ack(message_id: str, code: str = "ok", error: str | None = None) -> dict:
    entries: list[dict] = [
        {
            "fullUrl": "urn:uuid:1",
            "resource": {
                "resourceType": "MessageHeader",
                "id": "ack-1",
                "eventCoding": {"system": "urn:oid:2.16.578.1.12.4.1.1.8279", "code": "APPREC"},
                "source": {"endpoint": "urn:kommune"},
                "sender": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.2", "value": "8100011"}},
                "response": {"identifier": message_id, "code": code},
            },
        }
    ]
    if error:
        entries.append(
            {
                "fullUrl": "urn:uuid:2",
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "error",
                            "code": "processing",
                            "details": {"coding": [{"code": "E35"}]},
                            "diagnostics": error,
                        }
                    ],
                },
            }
        )
    return {"resourceType": "Bundle", "type": "message", "entry": entries}


async def post_receipt(gateway: Client, body: dict | bytes) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with gateway.session.post(
        gateway.base + "/receipts", data=data, headers={"Content-Type": "application/fhir+json"}
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_receipts_are_linked_to_their_message_and_unknown_ones_kept(gateway: Client) -> None:
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("V1")))
    message_id = (await gateway.feed(NURSING))[0]["messageId"]
    status, body = await post_receipt(gateway, fhir_ack(message_id, "fatal-error", "Pasient ukjent"))
    assert (status, body["status"], body["known"]) == (201, "rejected", True)
    status, receipts = await gateway.get_json(f"/messages/{message_id}/receipts")
    assert receipts["receipts"][0]["errors"] == [{"code": "E35", "text": "Pasient ukjent"}]
    assert receipts["receipts"][0]["sender"] == "8100011"
    status, body = await post_receipt(gateway, fhir_ack("no-such-message"))
    assert (status, body["known"]) == (202, False)
    status, unknown = await gateway.get_json("/receipts/unknown")
    assert [r["messageId"] for r in unknown["receipts"]] == ["no-such-message"]
    for bad in (b"{oops", {"resourceType": "Bundle", "type": "message", "entry": []}, fhir_ack("x", "maybe")):
        status, problem = await post_receipt(gateway, bad)
        assert status == 422 and problem["title"] == "Not a receipt"


async def test_messages_without_a_receipt_after_96_hours_are_listed(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    server = TestServer(build_app(settings_for(tmp_path), clock), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(headers=auth_headers(settings_for(tmp_path))) as session:
        gw = Client(str(server.make_url("")).rstrip("/"), session, settings_for(tmp_path))
        await gw.post_event(b.message("A01", b.patient(), b.encounter("V1")))
        answered = (await gw.feed(NURSING))[0]["messageId"]
        await post_receipt(gw, fhir_ack(answered))
        clock.advance(timedelta(hours=95))
        _status, early = await gw.get_json("/receipts/missing")
        assert early["messages"] == []
        clock.advance(timedelta(hours=2))
        _status, late = await gw.get_json("/receipts/missing")
        kinds = sorted(m["messageType"] for m in late["messages"])
        assert kinds == ["DIALOG_NOTAT", "HELSEOPPL_SOKNAD"]  # LOG_INNLAGT got its receipt
    await server.close()
