"""The audit log: every read of patient data is recorded (who, when, what, through which endpoint),
administrators can query it, and neither the API nor SQL can change or delete an entry."""

from __future__ import annotations

import orjson
import pytest

from gateway.auth.scopes import MESSAGES_READ, SUBSCRIPTIONS_MANAGE
from tests import builders as b
from tests import raw_store
from tests.conftest import Client, auth_headers

NURSING = "8100011"


async def test_reads_are_recorded_and_administrators_can_query_them(gateway: Client) -> None:
    """A municipality reads its feed, a message and its page: three kinds of entries, with its
    client id and organisation, and only an administrator can list them."""
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("A1")))
    reader = auth_headers(
        gateway.settings,
        client_id="hamar-ehr",
        scopes=[MESSAGES_READ, SUBSCRIPTIONS_MANAGE],
        her_ids=["8100001"],
    )
    async with gateway.session.get(f"{gateway.base}/feed/{NURSING}", headers=reader) as resp:
        message_id = (await resp.json())["entries"][0]["messageId"]
    for path in (f"/messages/{message_id}", f"/messages/{message_id}/page"):
        async with gateway.session.get(gateway.base + path, headers=reader) as resp:
            assert resp.status == 200
    async with gateway.session.get(f"{gateway.base}/audit?clientId=hamar-ehr", headers=reader) as resp:
        assert resp.status == 403  # not an administrator
    status, log = await gateway.get_json("/audit?clientId=hamar-ehr")
    assert status == 200
    seen = [(e["action"], e["subject_kind"], e["subject"]) for e in log["entries"]]
    assert seen == [
        ("GET /feed/{her_id}", "recipient", NURSING),
        ("GET /messages/{message_id}", "message", message_id),
        ("GET /messages/{message_id}/page", "message", message_id),
    ]
    assert {e["organisation"] for e in log["entries"]} == {"8100001"}
    assert all(e["at"].endswith("Z") or "+" in e["at"] for e in log["entries"])
    status, one = await gateway.get_json(f"/audit?subjectKind=message&subject={message_id}")
    assert [e["action"] for e in one["entries"]] == [a for a, kind, _ in seen if kind == "message"]


async def test_a_refused_read_is_not_recorded_as_a_read(gateway: Client) -> None:
    """A 403 hands out nothing, so it leaves no read entry."""
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("A2")))
    other = auth_headers(gateway.settings, client_id="gjovik", scopes=[MESSAGES_READ], her_ids=["8100003"])
    async with gateway.session.get(f"{gateway.base}/feed/{NURSING}", headers=other) as resp:
        assert resp.status == 403
    _, log = await gateway.get_json("/audit?clientId=gjovik")
    assert log["entries"] == []


async def test_the_api_offers_no_way_to_change_the_audit_log(gateway: Client) -> None:
    """POST, PUT and DELETE on /audit are not served, even for an administrator."""
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        async with gateway.session.request(method, gateway.base + "/audit", data=orjson.dumps({})) as resp:
            assert resp.status == 405


async def test_the_database_refuses_updates_and_deletes_of_audit_entries(gateway: Client) -> None:
    """Append-only in the database itself: triggers abort UPDATE and DELETE on the audit table."""
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("A3")))
    await gateway.feed(NURSING)
    settings = gateway.settings
    before = raw_store.rows(settings, "SELECT count(*) FROM audit")[0][0]
    assert before >= 1
    with pytest.raises(raw_store.Refused, match="append-only"):
        raw_store.rows(settings, "UPDATE audit SET client_id = 'someone-else'")
    with pytest.raises(raw_store.Refused, match="append-only"):
        raw_store.rows(settings, "DELETE FROM audit")
    assert raw_store.rows(settings, "SELECT count(*) FROM audit WHERE client_id = 'someone-else'") == [(0,)]


async def test_a_webhook_delivery_is_audited_as_an_export(fast_retry_gateway: Client) -> None:
    """A message pushed to a subscriber is audited: action 'webhook', the subscription, the message."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    arrived = asyncio.Event()

    async def hook(_: web.Request) -> web.Response:
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    gw = fast_retry_gateway
    try:
        body = {"herIds": [NURSING], "mode": "push", "endpoint": str(receiver.make_url("/hook"))}
        async with gw.session.post(gw.base + "/subscriptions", data=orjson.dumps(body)) as resp:
            sub = await resp.json()
        await gw.post_event(b.message("A01", b.patient(), b.encounter("W1")))
        async with asyncio.timeout(10):
            await arrived.wait()
        for _ in range(100):
            _, log = await gw.get_json(f"/audit?clientId=subscription:{sub['id']}")
            if log["entries"]:
                break
            await asyncio.sleep(0.05)
        (entry,) = log["entries"]
        message_id = (await gw.feed(NURSING))[0]["messageId"]
        assert (entry["action"], entry["subject_kind"], entry["subject"]) == (
            "webhook",
            "message",
            message_id,
        )
        assert entry["detail"] == f"127.0.0.1:{receiver.port}"
    finally:
        await receiver.close()
