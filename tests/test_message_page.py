"""The human-readable page of a message: what matters is visible, nothing of the sender's markup runs."""

from __future__ import annotations

from adapters.fhir import codes
from tests import builders as b
from tests.conftest import Client, header

GP = "8200011"


async def page(gateway: Client, message_id: str) -> tuple[int, str, dict[str, str]]:
    async with gateway.session.get(f"{gateway.base}/messages/{message_id}/page") as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_medication_list_page_highlights_changes_for_the_gp(gateway: Client) -> None:
    meds_in = [
        b.medication("C09AA05", "Ramipril", "5 mg x 1", category="inpatient"),
        b.medication("B01AC06", "Acetylsalisylsyre", "75 mg x 1", category="inpatient"),
    ]
    meds_out = [
        b.medication("C09AA05", "Ramipril", "10 mg x 1", reason="Blodtrykk over mål"),
        b.medication("B01AC06", "Acetylsalisylsyre", "75 mg x 1", status="stopped", reason="Blødning"),
    ]
    await gateway.post_event(b.message("A01", b.patient(given="Åse"), b.encounter(), *meds_in))
    await gateway.post_event(
        b.message(
            "A03",
            b.patient(given="Åse"),
            b.encounter(end="2026-11-07T11:00:00+01:00"),
            *meds_out,
            event_time="2026-11-07T11:00:00+01:00",
        )
    )
    entry = next(e for e in await gateway.feed(GP) if e["messageType"] == "LEGEMIDDELLISTE")
    assert entry["page"] == f"/messages/{entry['messageId']}/page"
    status, html, headers = await page(gateway, entry["messageId"])
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "Må leses og følges opp av fastlegen" in html
    assert '<tr class="changed"><td>Endret</td><td>Ramipril</td>' in html
    assert '<tr class="stopped"><td>Seponert</td><td>Acetylsalisylsyre</td>' in html and "Blødning" in html
    assert "Åse Nordmann" in html and "07.11.2026 11:00" in html


async def test_section_text_is_shown_as_text_never_as_markup(gateway: Client) -> None:
    await gateway.post_event(b.message("A01", b.patient(), b.encounter()))
    doc = b.composition("UR-X", sections={"OP": "Kontroll <b>om</b> 2 uker<script>alert(1)</script>"})
    doc["section"][0]["text"]["div"] = (
        '<div xmlns="http://www.w3.org/1999/xhtml">Kontroll om 2 uker<br/>'
        '<script>alert(1)</script><img src="http://evil.example/x"/></div>'
    )
    await gateway.post_event(b.message("T02", b.patient(), b.encounter(), doc, focus=doc))
    entry = next(e for e in await gateway.feed(GP) if e["messageType"] == "UTSKRIVNINGSRAPPORT")
    status, html, _ = await page(gateway, entry["messageId"])
    assert status == 200
    assert "<script" not in html and "<img" not in html and "evil.example" not in html
    assert "<p>Kontroll om 2 uker</p>" in html and "<p>alert(1)</p>" in html  # their text, inert


async def test_a_cancellation_says_so(gateway: Client) -> None:
    await gateway.post_event(b.message("A01", b.patient(), b.encounter()))
    await gateway.post_event(
        b.message("A11", b.patient(), b.encounter(), event_time="2026-11-02T12:00:00+01:00")
    )
    cancel = next(e for e in await gateway.feed("8100011") if e["dispatchStatus"] == "C")
    _status, html, _ = await page(gateway, cancel["messageId"])
    assert "trekker tilbake en tidligere melding" in html
    bundle = (await gateway.get_json(cancel["href"]))[1]
    assert header(bundle)["eventCoding"]["system"] == codes.MESSAGE_TYPE
    assert (await page(gateway, "00000000-0000-4000-8000-000000000000"))[0] == 404
