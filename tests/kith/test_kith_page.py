"""The HTML page of a KITH XML message: the gateway's own renderings and official examples alike."""

from __future__ import annotations

import pytest

from gateway.render.kith_page import NotKith, kith_page
from tests import builders as b
from tests.conftest import SHARED, Client
from tests.kith.scenarios import GP, NURSING, all_outbound, kind, status

EXAMPLES = SHARED / "standards/kith/examples/sarepta/eksempel"


async def _page(gateway: Client, message_id: str) -> tuple[int, str]:
    async with gateway.session.get(f"{gateway.base}/messages/{message_id}/page?format=kith") as resp:
        return resp.status, await resp.text()


async def test_the_gp_reads_the_epikrise_from_its_kith_xml(gateway: Client) -> None:
    """Patient, stay in Oslo time, diagnoses, drug changes highlighted with reasons, the follow-up plan."""
    epikrise = next(m for m in await all_outbound(gateway) if kind(m) == "EPIKRISE" and status(m) == "N")
    code, page = await _page(gateway, epikrise["id"])
    assert code == 200
    assert "<dd>Nordmann, Kari</dd>" in page and "<dd>02.11.2026 10:00</dd>" in page
    assert "<td>Hoveddiagnose</td><td>J189</td>" in page
    assert '<tr class="stopped"><td>Acetylsalisylsyre</td>' in page and "Seponert: Blødning" in page
    assert '<tr class="new"><td>Apixaban</td>' in page
    assert '<tr class="changed"><td>Ramipril</td>' in page
    assert "<h2>Planer for videre oppfølging</h2><p>Kontroll hos fastlege.</p>" in page


async def test_a_logistics_notice_page_shows_event_and_time(gateway: Client) -> None:
    """The ready notice's page names the events with their local times."""
    messages = [m for m in await all_outbound(gateway) if kind(m) == "LOG_UTSKRIVNINGSKLAR"]
    code, page = await _page(gateway, messages[0]["id"])
    assert code == 200
    assert "<dt>Pasient utskrivningsklar</dt><dd>05.11.2026 09:00</dd>" in page
    assert "<dt>Pasient innlagt</dt>" in page


async def test_text_from_the_hospital_is_escaped_on_the_page(gateway: Client) -> None:
    """Markup written into a section reaches the reader as text, never as markup."""
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("VS")))
    doc = b.composition("DOC-S", sections={"OP": "&lt;script&gt;alert(1)&lt;/script&gt; Kontroll."})
    await gateway.post_event(b.message("T02", b.patient(), b.encounter("VS"), doc, focus=doc))
    feed = await gateway.feed(NURSING)
    report = next(e["messageId"] for e in feed if e["messageType"] == "UTSKRIVNINGSRAPPORT")
    code, page = await _page(gateway, report)
    assert code == 200
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; Kontroll." in page


async def test_no_page_for_a_message_without_a_kith_form(gateway: Client) -> None:
    """The medication list has no KITH form, so no KITH page either (406)."""
    med = b.medication("N02BE01", "Paracetamol", "1 g")
    await gateway.post_event(b.message("A01", b.patient(), b.encounter("VL")))
    end = "2026-11-07T11:00:00+01:00"
    await gateway.post_event(b.message("A03", b.patient(), b.encounter("VL", end=end), med, event_time=end))
    listing = next(e["messageId"] for e in await gateway.feed(GP) if e["messageType"] == "LEGEMIDDELLISTE")
    assert (await _page(gateway, listing))[0] == 406


def test_official_examples_read_as_pages() -> None:
    """Official PLO 1.6 and Epikrise 1.2 messages from other senders show their content."""
    epikrise = kith_page((EXAMPLES / "Epikrise/Epikrise_v1-2/epikrise_v1.2_n.xml").read_bytes())
    assert "<td>Furix</td><td>1 tabl. om morgenen</td>" in epikrise
    assert "<h2>Planer for videre oppfølging</h2>" in epikrise
    report = kith_page(
        (EXAMPLES / "plo/1_6/utskrivningsrapport_1.6_mottak/Utskrivningsrapport_v1-6_Ny.xml").read_bytes()
    )
    assert '<tr class="stopped"><td>Marevan</td>' in report
    ready = kith_page(
        (
            EXAMPLES
            / "plo/1_6/pasientlogistikk_1_6_mottak/Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml"
        ).read_bytes()
    )
    assert "<dt>Pasient utskrivningsklar</dt><dd>31.01.2018 (anslag)</dd>" in ready


@pytest.mark.parametrize(
    "body",
    [
        b"<not-closed",
        b"<Other/>",
        b'<!DOCTYPE MsgHead [<!ENTITY e SYSTEM "file:///etc/passwd">]><MsgHead>&e;</MsgHead>',
    ],
)
def test_what_is_not_a_kith_message_is_refused_or_shown_without_entities(body: bytes) -> None:
    """Not well-formed or another root: refused by name; an external entity is never fetched."""
    try:
        page = kith_page(body)
    except NotKith as exc:
        assert "not well-formed" in str(exc) or "is not MsgHead or Message" in str(exc)
    else:
        assert "root:" not in page  # /etc/passwd was not read
        assert body.startswith(b"<!DOCTYPE")
