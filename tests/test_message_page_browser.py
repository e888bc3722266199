"""The message page in a real browser (headless Chromium): it renders, and its policy blocks nothing
the page needs. CI installs Chromium; elsewhere the test says it was skipped and why."""

from __future__ import annotations

import pytest

from tests import builders as b
from tests.browser import CHROMIUM, rendered_dom
from tests.conftest import Client, auth_headers


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
async def test_the_page_renders_in_chromium(gateway: Client) -> None:
    meds_in = [b.medication("C09AA05", "Ramipril", "5 mg x 1", category="inpatient")]
    meds_out = [b.medication("C09AA05", "Ramipril", "10 mg x 1", reason="Blodtrykk over mål")]
    await gateway.post_event(b.message("A01", b.patient(), b.encounter(), *meds_in))
    await gateway.post_event(
        b.message(
            "A03",
            b.patient(),
            b.encounter(end="2026-11-07T11:00:00+01:00"),
            *meds_out,
            event_time="2026-11-07T11:00:00+01:00",
        )
    )
    entry = next(e for e in await gateway.feed("8200011") if e["messageType"] == "LEGEMIDDELLISTE")

    text = await rendered_dom(gateway.base, entry["page"], auth_headers(gateway.settings))
    assert "<h1>Legemiddelliste ved utskrivning</h1>" in text
    assert '<tr class="changed"><td>Endret</td><td>Ramipril</td>' in text
    assert "Må leses og følges opp av fastlegen." in text
