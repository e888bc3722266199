"""KITH XML in the running gateway: fetched by Accept or ?format=kith, pushed to kith-xml subscribers,
validated against the configured schemas before anything is sent, rendered once."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree
from standardwebhooks.webhooks import Webhook
from structlog.testing import capture_logs

from adapters.kith.xsd import KithSchemas
from gateway.clock import SystemClock
from gateway.config import KITH_SCHEMAS, load_settings
from gateway.render.kith_output import KithOutput, redact
from tests import builders as b
from tests.conftest import SHARED, Client, running, settings_for
from tests.kith.scenarios import NURSING, event

T_ADMIT = "2026-11-02T10:00:00+01:00"
SCHEMAS = KithSchemas(SHARED / "standards/kith/xsd")
RINGSAKER_NURSING = "8100021"  # the demo directory says Ringsaker prefers KITH


async def _gateway(folder: Path, **overrides: object) -> AsyncIterator[Client]:
    folder.mkdir()
    async with running(settings_for(folder, retry_schedule="0.05,0.05", **overrides)) as client:
        yield client


def strict_schemas(tmp_path: Path) -> Path:
    """A schema folder that demands an element the renderer never writes (TilleggsopplysningPasient
    in Pasientlogistikk): a test-only copy in tmp_path, to see the path a failing rendering takes."""
    folder = tmp_path / "strict-xsd"
    shutil.copytree(KITH_SCHEMAS, folder)
    plo = folder / "Pasientlogistikk-v1.6.xsd"
    text = plo.read_bytes()
    stricter = text.replace(
        b'<element ref="po:TilleggsopplysningPasient" minOccurs="0"/>',
        b'<element ref="po:TilleggsopplysningPasient"/>',
        1,
    )
    assert stricter != text
    plo.write_bytes(stricter)
    return folder


@pytest.fixture
async def strict_gateway(tmp_path: Path) -> AsyncIterator[Client]:
    async for client in _gateway(tmp_path / "strict", kith_schema_dir=strict_schemas(tmp_path)):
        yield client


@pytest.fixture
async def unvalidated_gateway(tmp_path: Path) -> AsyncIterator[Client]:
    async for client in _gateway(tmp_path / "unvalidated", kith_schema_dir=""):
        yield client


async def _get(gateway: Client, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with gateway.session.get(gateway.base + path, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def _first(gateway: Client, her: str, message_type: str) -> str:
    return next(e["messageId"] for e in await gateway.feed(her) if e["messageType"] == message_type)


async def test_a_message_is_fetched_as_kith_xml_by_accept_or_query(gateway: Client) -> None:
    """Accept: application/xml or ?format=kith gives the validated KITH XML; otherwise FHIR JSON."""
    await gateway.post_event(event("A01", T_ADMIT))
    message_id = await _first(gateway, NURSING, "LOG_INNLAGT")
    status, headers, body = await _get(gateway, f"/messages/{message_id}", Accept="application/xml")
    assert status == 200
    assert headers["Content-Type"].startswith("application/xml")
    assert headers["Gateway-Kith-Validation"] == "valid"
    doc = etree.fromstring(body)
    assert SCHEMAS.errors(doc) == []
    assert doc.findtext("{*}MsgInfo/{*}MsgId") == message_id
    assert (await _get(gateway, f"/messages/{message_id}?format=kith"))[2] == body
    status, headers, fhir = await _get(gateway, f"/messages/{message_id}", Accept="application/fhir+json")
    assert headers["Content-Type"].startswith("application/fhir+json")
    assert orjson.loads(fhir)["id"] == message_id
    assert (await _get(gateway, f"/messages/{message_id}"))[2] == fhir


async def test_kith_xml_is_rendered_once_and_then_served_from_the_store(gateway: Client) -> None:
    """A second fetch returns the stored bytes: the render counter moves once."""
    await gateway.post_event(event("A01", T_ADMIT))
    message_id = await _first(gateway, NURSING, "LOG_INNLAGT")
    first = (await _get(gateway, f"/messages/{message_id}?format=kith"))[2]
    second = (await _get(gateway, f"/messages/{message_id}?format=kith"))[2]
    assert first == second
    metrics = (await _get(gateway, "/metrics"))[2].decode()
    assert 'gateway_kith_renders_total{status="valid"} 1.0' in metrics


async def test_the_medication_list_has_no_kith_form(gateway: Client) -> None:
    """LEGEMIDDELLISTE asked for as XML is 406 with a specific reason."""
    await gateway.post_event(
        event("A01", T_ADMIT, b.medication("N02BE01", "Paracetamol", "1 g", category="inpatient"))
    )
    await gateway.post_event(
        event(
            "A03",
            "2026-11-07T11:00:00+01:00",
            b.medication("N02BE01", "Paracetamol", "1 g"),
            end="2026-11-07T11:00:00+01:00",
        )
    )
    message_id = await _first(gateway, NURSING, "LEGEMIDDELLISTE")
    status, _, body = await _get(gateway, f"/messages/{message_id}", Accept="application/xml")
    assert status == 406
    assert "LEGEMIDDELLISTE has no KITH XML form" in orjson.loads(body)["detail"]


async def test_a_rendering_that_fails_validation_is_refused_without_patient_data(
    strict_gateway: Client,
) -> None:
    """Schema errors are shown (element names kept, values redacted) and counted; no patient data in them."""
    gw = strict_gateway
    await gw.post_event(event("A01", T_ADMIT))
    message_id = await _first(gw, NURSING, "LOG_INNLAGT")
    status, _, body = await _get(gw, f"/messages/{message_id}", Accept="application/xml")
    assert status == 422
    problem = orjson.loads(body)
    assert problem["errors"] and any("TilleggsopplysningPasient" in e for e in problem["errors"])
    for secret in (b.FNR_HAMAR, "Nordmann", "Kari"):
        assert secret not in body.decode()
    metrics = (await _get(gw, "/metrics"))[2].decode()
    assert 'gateway_kith_renders_total{status="invalid"} 1.0' in metrics


async def _push_one(gw: Client) -> tuple[dict, list[tuple[str, bytes]]]:
    """A kith-xml push subscriber on loopback; one admission; the delivery once it is settled."""
    received: list[tuple[str, bytes]] = []
    secret: dict[str, str] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        Webhook(secret["s"]).verify(body, dict(request.headers), json_parse=False)
        received.append((request.headers["Content-Type"], body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    endpoint = str(server.make_url("/hook"))
    sub = {"herIds": [NURSING], "mode": "push", "endpoint": endpoint, "format": "kith-xml"}
    async with gw.session.post(gw.base + "/subscriptions", data=orjson.dumps(sub)) as resp:
        created = await resp.json()
    secret["s"] = created["secret"]
    await gw.post_event(event("A01", T_ADMIT))
    path = f"/subscriptions/{created['id']}/deliveries"
    for _ in range(250):
        deliveries = (await gw.get_json(path))[1]["deliveries"]
        if deliveries and deliveries[0]["status"] != "pending":
            break
        await asyncio.sleep(0.02)
    await server.close()
    return deliveries[0], received


async def test_a_kith_subscriber_gets_signed_xml(gateway: Client) -> None:
    """Push in kith-xml: Content-Type application/xml, the signature covers the XML as sent."""
    delivery, received = await _push_one(gateway)
    assert delivery["status"] == "delivered"
    content_type, body = received[0]
    assert content_type.startswith("application/xml")
    assert SCHEMAS.errors(etree.fromstring(body)) == []


async def test_a_rendering_that_fails_validation_is_never_pushed(strict_gateway: Client) -> None:
    """The delivery is dead with the (redacted) schema errors, and nothing reaches the subscriber."""
    delivery, received = await _push_one(strict_gateway)
    assert delivery["status"] == "dead"
    assert delivery["lastError"].startswith("KITH XML failed schema validation")
    assert "TilleggsopplysningPasient" in delivery["lastError"]
    assert b.FNR_HAMAR not in delivery["lastError"]
    assert received == []


async def test_a_subscription_without_format_takes_the_recipients_preference(gateway: Client) -> None:
    """The directory says Ringsaker prefers KITH and Hamar FHIR; an explicit format wins."""

    async def create(her: str, **extra: str) -> str:
        body = {"herIds": [her], "mode": "pull", **extra}
        async with gateway.session.post(gateway.base + "/subscriptions", data=orjson.dumps(body)) as resp:
            return str((await resp.json())["format"])

    assert await create(RINGSAKER_NURSING) == "kith-xml"
    assert await create(NURSING) == "fhir-json"
    assert await create(RINGSAKER_NURSING, format="fhir-json") == "fhir-json"


async def test_without_a_schema_folder_output_is_marked_unvalidated(unvalidated_gateway: Client) -> None:
    """kith_schema_dir empty: KITH XML is served, marked unvalidated."""
    gw = unvalidated_gateway
    await gw.post_event(event("A01", T_ADMIT))
    message_id = await _first(gw, NURSING, "LOG_INNLAGT")
    status, headers, _ = await _get(gw, f"/messages/{message_id}", Accept="application/xml")
    assert (status, headers["Gateway-Kith-Validation"]) == (200, "unvalidated")


def test_start_up_says_when_kith_output_is_not_validated() -> None:
    """No schema folder configured: a warning at start-up names the missing setting."""
    with capture_logs() as logs:
        KithOutput.from_folder(None, SystemClock(), None, None)  # type: ignore[arg-type]
    assert [entry["event"] for entry in logs] == ["kith_output_not_validated"]


def test_schema_folder_setting_defaults_to_the_shipped_copy_and_can_be_emptied() -> None:
    """Default: schemas/kith-xsd in the project; GATEWAY_KITH_SCHEMA_DIR="" turns validation off."""
    assert load_settings(env={}).kith_schema_dir == KITH_SCHEMAS
    assert load_settings(env={"GATEWAY_KITH_SCHEMA_DIR": ""}).kith_schema_dir is None
    assert load_settings(env={"GATEWAY_KITH_SCHEMA_DIR": "/x"}).kith_schema_dir == Path("/x")


def test_redaction_keeps_element_names_and_drops_values() -> None:
    """A schema error's quoted values are replaced; the element it names stays readable."""
    message = "Element '{http://x}Id': [facet 'pattern'] The value '12034512343' is not accepted by '\\d+'."
    out = redact(message)
    assert "12034512343" not in out and "'Id'" in out
    assert out == "Element 'Id': [facet '…'] The value '…' is not accepted by '…'."
