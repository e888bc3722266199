"""Authorisation by organisation over two hospitals and three municipalities: each acts only for
its own senders and recipients, and every refusal is the same 403 problem body."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.fhir import codes
from gateway.auth.scopes import EVENTS_POST, MESSAGES_READ, SUBSCRIPTIONS_MANAGE
from tests import builders as b
from tests.conftest import Client, auth_headers

SI, OUS = "8000001", "8000002"  # Sykehuset Innlandet, Oslo universitetssykehus
HAMAR, GJOVIK, RINGSAKER = "8100001", "8100003", "8100002"
NURSING = {HAMAR: "8100011", GJOVIK: "8100031", RINGSAKER: "8100021"}
MUNICIPALITY_NUMBER = {HAMAR: "3403", GJOVIK: "3407", RINGSAKER: "3411"}
PARTIES = (SI, OUS, HAMAR, GJOVIK, RINGSAKER)
SCOPES = [EVENTS_POST, MESSAGES_READ, SUBSCRIPTIONS_MANAGE]
FORBIDDEN = {"type": "about:blank", "title": "Forbidden", "status": 403,
             "detail": "the access token does not permit this request"}  # fmt: skip


def from_hospital(bundle: dict[str, Any], her: str) -> dict[str, Any]:
    """The same event, sent by another hospital (its Organization's HER-id)."""
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Organization":
            for ident in res.get("identifier") or []:
                if ident.get("system") == codes.HER and ident["value"] == b.HOSPITAL_HER:
                    ident["value"] = her
    return bundle


class Party:
    def __init__(self, gw: Client, her: str) -> None:
        self.gw, self.her = gw, her
        self.headers = auth_headers(gw.settings, client_id=f"client-{her}", scopes=SCOPES, her_ids=[her])

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = orjson.dumps(body) if body is not None else None
        async with self.gw.session.request(
            method,
            self.gw.base + path,
            data=data,
            headers={**self.headers, "Content-Type": "application/json"},
        ) as resp:
            raw = await resp.read()
            return resp.status, (orjson.loads(raw) if raw and resp.content_type.endswith("json") else raw)


@pytest.fixture
async def world(gateway: Client) -> dict[str, Any]:
    """SI sends for a Hamar and a Ringsaker patient, OUS for a Gjøvik patient; each municipality
    has a pull subscription. Returns the parties and one message id per municipality."""
    parties = {her: Party(gateway, her) for her in PARTIES}
    senders = {HAMAR: SI, RINGSAKER: SI, GJOVIK: OUS}
    for n, (municipality, hospital) in enumerate(senders.items()):
        event = from_hospital(
            b.message("A01", b.patient(municipality=MUNICIPALITY_NUMBER[municipality]), b.encounter(f"W{n}")),
            hospital,
        )
        status, _ = await parties[hospital].call("POST", "/fhir/$process-message", event)
        assert status == 200
    messages, subscriptions = {}, {}
    for municipality, nursing in NURSING.items():
        status, feed = await parties[municipality].call("GET", f"/feed/{nursing}")
        assert status == 200 and feed["entries"], municipality
        messages[municipality] = feed["entries"][0]["messageId"]
        status, sub = await parties[municipality].call(
            "POST", "/subscriptions", {"herIds": [nursing], "mode": "pull"}
        )
        assert status == 201
        subscriptions[municipality] = sub["id"]
    return {"parties": parties, "messages": messages, "subscriptions": subscriptions}


def attempts(owner: str, world: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Everything one might try against the owner's messages and subscription."""
    nursing, message = NURSING[owner], world["messages"][owner]
    sub = world["subscriptions"][owner]
    ack = b.message("A01", b.patient(), b.encounter())  # shape does not matter: refused before
    ack["entry"][0]["resource"]["response"] = {"identifier": message, "code": "ok"}
    return [
        ("GET", f"/feed/{nursing}", None),
        ("GET", f"/messages/{message}", None),
        ("GET", f"/messages/{message}/page", None),
        ("GET", f"/messages/{message}/receipts", None),
        ("POST", "/receipts", ack),
        ("POST", "/subscriptions", {"herIds": [nursing], "mode": "pull"}),
        ("GET", f"/subscriptions/{sub}", None),
        ("GET", f"/subscriptions/{sub}/events", None),
        ("POST", f"/subscriptions/{sub}/ack", {"upTo": 1}),
        ("GET", f"/subscriptions/{sub}/deliveries", None),
        ("POST", f"/subscriptions/{sub}/redeliver", {}),
        ("POST", f"/subscriptions/{sub}/rotate-secret", None),
        ("DELETE", f"/subscriptions/{sub}", None),
    ]


async def test_no_party_reaches_another_municipalitys_messages_or_subscription(world: dict[str, Any]) -> None:
    """Every other party (both hospitals, the two other municipalities) gets the same 403 on every
    read, receipt, subscription, acknowledgement and replay of a municipality's messages."""
    for owner in NURSING:
        secrets = [world["messages"][owner], world["subscriptions"][owner], NURSING[owner]]
        for intruder in PARTIES:
            if intruder == owner:
                continue
            for method, path, body in attempts(owner, world):
                status, answer = await world["parties"][intruder].call(method, path, body)
                assert (status, answer) == (403, FORBIDDEN), (intruder, method, path)
                assert not any(s in orjson.dumps(answer).decode() for s in secrets)


async def test_the_owner_may_do_all_of_it(world: dict[str, Any]) -> None:
    """The same requests from the owning municipality succeed (so the refusals above are about who asks)."""
    for owner in NURSING:
        for method, path, body in attempts(owner, world):
            if method == "POST" and path == "/receipts":
                continue  # the stand-in acknowledgement above is not a valid receipt
            status, _ = await world["parties"][owner].call(method, path, body)
            assert status in (200, 201, 204), (owner, method, path, status)


async def test_a_hospital_cannot_send_for_another_hospital(world: dict[str, Any]) -> None:
    """OUS posting an event whose sender is SI (or a municipality posting any event) is refused with 403."""
    event = b.message("A01", b.patient(), b.encounter("X1"))  # sender: SI
    status, answer = await world["parties"][OUS].call("POST", "/fhir/$process-message", event)
    assert status == 403
    issue = answer["entry"][1]["resource"]["issue"][0]
    assert issue["code"] == "forbidden" and issue["expression"] == ["MessageHeader.sender"]
    status, _ = await world["parties"][HAMAR].call("POST", "/fhir/$process-message", event)
    assert status == 403
    status, _ = await world["parties"][SI].call("POST", "/fhir/$process-message", event)
    assert status == 200


async def test_organisation_numbers_resolve_and_a_service_owns_only_itself(
    gateway: Client,
) -> None:
    """A token for the municipality reads its nursing service's feed; one for the service alone
    cannot read the municipality's other service; organisation numbers resolve like HER-ids."""
    by_org_no = auth_headers(gateway.settings, scopes=SCOPES, org_numbers=["983971768"])  # SI's org number
    event = b.message("A01", b.patient(), b.encounter("D1"))
    async with gateway.session.post(gateway.base + "/fhir/$process-message", data=orjson.dumps(event),
                                    headers=by_org_no) as resp:  # fmt: skip
        assert resp.status == 200
    service_only = auth_headers(gateway.settings, scopes=SCOPES, her_ids=["8100011"])
    async with gateway.session.get(gateway.base + "/feed/8100011", headers=service_only) as resp:
        assert resp.status == 200
    async with gateway.session.get(gateway.base + "/feed/8100012", headers=service_only) as resp:
        assert resp.status == 403


async def test_hl7_over_http_checks_the_sending_facility(world: dict[str, Any]) -> None:
    """MSH-4 must belong to the caller: OUS posting SI's ADT gets AR with an ERR segment, SI gets AA."""
    from tests.hl7_builders import adt

    message = adt("A01", "ORG1").encode()
    for party, expected in ((OUS, b"MSA|AR|ORG1"), (SI, b"MSA|AA|ORG1")):
        headers = {**world["parties"][party].headers, "Content-Type": "x-application/hl7-v2+er7"}
        gw = world["parties"][party].gw
        async with gw.session.post(gw.base + "/hl7v2", data=message, headers=headers) as resp:
            ack = await resp.read()
        assert expected in ack, party
