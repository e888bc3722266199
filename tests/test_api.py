"""The pull feed, message fetch, the OpenAPI document, configuration and logs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml

from gateway import logs
from gateway.config import ConfigError, load_settings
from gateway.privacy import Pseudonymizer
from tests import builders as b
from tests.conftest import Client


async def test_feed_pages_in_order_after_a_cursor(gateway: Client) -> None:
    for n in range(5):
        await gateway.post_event(b.message("A01", b.patient(), b.encounter(f"F{n}")))
    status, page1 = await gateway.get_json("/feed/8100011?limit=2")
    status, page2 = await gateway.get_json(f"/feed/8100011?after={page1['nextCursor']}&limit=2")
    status, page3 = await gateway.get_json(f"/feed/8100011?after={page2['nextCursor']}&limit=10")
    cursors = [e["cursor"] for p in (page1, page2, page3) for e in p["entries"]]
    assert len(cursors) == 5 and cursors == sorted(cursors) and len(set(cursors)) == 5
    status, empty = await gateway.get_json(f"/feed/8100011?after={page3['nextCursor']}")
    assert status == 200
    assert empty["entries"] == [] and empty["nextCursor"] == page3["nextCursor"]


async def test_feed_rejects_a_bad_cursor_with_problem_details(gateway: Client) -> None:
    async with gateway.session.get(gateway.base + "/feed/8100011?after=abc") as resp:
        assert resp.status == 400
        assert resp.content_type == "application/problem+json"
        assert (await resp.json(content_type=None))["title"] == "Bad cursor"


async def test_unknown_message_and_stay_are_404(gateway: Client) -> None:
    assert (await gateway.get_json("/messages/00000000-0000-0000-0000-000000000000"))[0] == 404
    assert (await gateway.get_json("/stays/999"))[0] == 404


async def test_openapi_document_describes_every_route(gateway: Client, tmp_path: Path) -> None:
    """Every route the app serves is in the OpenAPI document, with the same methods."""
    import re

    from gateway.app import build_app
    from tests.conftest import settings_for

    async with gateway.session.get(gateway.base + "/openapi.yaml") as resp:
        doc = yaml.safe_load(await resp.text())
    assert doc["openapi"].startswith("3.1")

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    documented = {(shape(p), m.upper()) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    served = {
        (shape(r.resource.canonical), r.method)
        for r in build_app(settings_for(tmp_path)).router.routes()
        if r.method != "HEAD"
    }
    assert served <= documented, served - documented


def test_settings_precedence_cli_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\nport = 9001\nhost = "0.0.0.0"\nmllp_port = 2600\n')
    s = load_settings(config, env={"GATEWAY_PORT": "9002"}, overrides={"mllp_port": 2700})
    assert (s.host, s.port, s.mllp_port) == ("0.0.0.0", 9002, 2700)
    assert load_settings(env={}).port == 8080


def test_a_config_file_with_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[gateway]\nprot = 9001\n")
    try:
        load_settings(config, env={})
    except ConfigError as exc:
        assert "prot" in str(exc)
    else:
        raise AssertionError("unknown setting accepted")


async def test_logs_are_json_lines_without_patient_data(tmp_path: Path) -> None:
    """One JSON line per event with its message id; no person number, name or clinical text."""
    import aiohttp
    from aiohttp.test_utils import TestServer

    from gateway.app import build_app
    from tests.conftest import auth_headers, settings_for

    stream = io.StringIO()
    logs.configure("info", stream)
    try:
        server = TestServer(build_app(settings_for(tmp_path)), host="127.0.0.1")
        await server.start_server()
        # a fixed id: a random UUID now and then holds 11 digits with valid check digits, which
        # the person-number guard then redacts (on purpose: it errs on the side of redacting)
        event = b.message(
            "A01",
            b.patient(given="Åsmund", family="Særbøe"),
            b.encounter(),
            message_id="3f1c2a9e-b7d4-4e6a-9c1b-aa55ee77cc00",
        )
        bad = b.message("A01", b.patient(given="Åsmund", family="Særbøe"), b.encounter())
        bad["entry"][2]["resource"]["identifier"][0]["value"] = "12034512344"
        async with aiohttp.ClientSession(headers=auth_headers(settings_for(tmp_path))) as session:
            url = str(server.make_url("/fhir/$process-message"))
            headers = {"X-Correlation-ID": "corr-42"}
            async with session.post(url, data=json.dumps(event), headers=headers) as resp:
                assert resp.headers["X-Correlation-ID"] == "corr-42"
            async with session.post(url, data=json.dumps(bad)) as resp:
                made_here = resp.headers["X-Correlation-ID"]
        await server.close()
    finally:
        logs.configure("info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    accepted = [line for line in lines if line["event"] == "event_accepted"]
    assert accepted and accepted[0]["message_id"] == event["entry"][0]["resource"]["id"]
    assert accepted[0]["correlation_id"] == "corr-42"
    rejected = next(line for line in lines if line["event"] == "event_rejected")
    assert rejected["correlation_id"] == made_here and len(made_here) == 36
    text = stream.getvalue()
    for secret in (b.FNR_HAMAR, "12034512344", "Åsmund", "Særbøe", "Storgata", "pneumoni"):
        assert secret not in text


def test_the_person_number_guard_redacts_what_a_careless_log_call_passes() -> None:
    """A person number in a log value becomes '[redacted]', or its keyed pseudonym when a key is given."""
    event = logs.redact_person_numbers(None, "info", {"event": "x", "detail": "fnr 12034512343 here"})
    assert event["detail"] == "fnr [redacted] here"
    keyed = Pseudonymizer(b"k" * 32)
    guard = logs.person_number_guard(keyed)
    event = guard(None, "info", {"event": "x", "detail": "fnr 120345 12343 here"})
    assert event["detail"] == f"fnr {keyed('12034512343')} here"  # the pseudonym the stays table uses


async def test_metrics_count_events_messages_and_deliveries(gateway: Client) -> None:
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("M1")))
    bad = b.message("A01", b.patient(), b.encounter("M2"))
    bad["entry"][2]["resource"]["identifier"][0]["value"] = "12034512344"
    await gateway.post_event(bad)
    async with gateway.session.get(gateway.base + "/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    assert 'gateway_events_total{channel="fhir",event="A01",result="accepted"} 1.0' in text
    assert 'gateway_events_total{channel="fhir",event="A01",result="rejected"} 1.0' in text
    assert 'gateway_messages_total{status="N",type="LOG_INNLAGT"} 1.0' in text
    assert 'gateway_deliveries{state="dead"} 0.0' in text
    assert "gateway_receipts_missing 0.0" in text
