"""The compliance report over March 2024 for four fixture-like stays, checked against figures worked
out by hand, as JSON, CSV, an HTML page with an inline chart, and from `gateway report`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from gateway.clock import iso, parse_fhir_datetime
from tests import builders as b
from tests.browser import CHROMIUM, rendered_dom
from tests.compliance.scene import Scene, complete_epikrise
from tests.conftest import auth_headers

PERIOD = "from=2024-03-01&to=2024-03-31"


def enc(visit: str, start: str, dept: str = "8000011", **kw: Any) -> dict[str, Any]:
    e = b.encounter(visit, start=start, **kw)
    e["serviceProvider"]["identifier"]["value"] = dept
    return e


async def messages_of(world: Scene, stay_id: int) -> list[dict[str, Any]]:
    timeline = (await world.get(f"/stays/{stay_id}/timeline"))["timeline"]
    return [t for t in timeline if t["kind"] == "message-sent"]


async def four_stays(world: Scene) -> None:
    """The stays (times Oslo; departments 8000011 = D1, 8000012 = D2; Hamar 3403, Ringsaker 3411):

    S1 D1 Hamar: admitted Mon 4th 09:00, ready Wed 6th 10:00, discharged Fri 8th 11:00, epikrise 15:00;
       every message receipted within the hour. Messages: LOG_INNLAGT, HELSEOPPL_SOKNAD, GP note (A01),
       LOG_UTSKRIVNINGSKLAR (A16), LOG_UTSKREVET, GP note (A03), EPIKRISE = 7.
    S2 D1 Ringsaker: admitted Mon 11th 09:00 but the A01 reached us Tue 12th 12:00 (24-hour notice late),
       ready Wed 13th 10:00, discharged Fri 15th 10:00, epikrise Tue 19th 10:00 (4 days).
       7 messages, no receipts.
    S3 D2 Hamar: admitted Mon 18th 09:00, ready Wed 20th 10:00 but the A16 reached us Thu 21st 08:00 (ready
       notice late), discharged Fri 22nd 10:00, no epikrise. 6 messages, each receipted 100 h after sending.
    S4 D2 Hamar, no municipal services expected: admitted Mon 25th, discharged Wed 27th 10:00, epikrise 20:00.
       LOG_INNLAGT, GP note, LOG_UTSKREVET, GP note, EPIKRISE = 5 messages, no receipts.
    """
    hamar = lambda: b.patient(b.FNR_HAMAR, "3403")  # noqa: E731
    ringsaker = lambda: b.patient(b.FNR_RINGSAKER, "3411")  # noqa: E731
    s = "2024-03-04T09:00:00+01:00"
    await world.post(s, "A01", hamar(), enc("S1", s))
    await world.post(
        "2024-03-06T10:00:00+01:00", "A16", hamar(), enc("S1", s, ready="2024-03-06T10:00:00+01:00")
    )
    await world.post(
        "2024-03-08T11:00:00+01:00", "A03", hamar(), enc("S1", s, end="2024-03-08T11:00:00+01:00")
    )
    world.at("2024-03-08T15:00:00+01:00")
    epi = complete_epikrise("S1", s, "2024-03-08T11:00:00+01:00", "2024-03-08T15:00:00+01:00", hamar())
    assert (await world.client.post_event(epi))[0] == 200
    s = "2024-03-11T09:00:00+01:00"
    await world.post(s, "A01", ringsaker(), enc("S2", s), arrives="2024-03-12T12:00:00+01:00")
    await world.post(
        "2024-03-13T10:00:00+01:00", "A16", ringsaker(), enc("S2", s, ready="2024-03-13T10:00:00+01:00")
    )
    await world.post(
        "2024-03-15T10:00:00+01:00", "A03", ringsaker(), enc("S2", s, end="2024-03-15T10:00:00+01:00")
    )
    world.at("2024-03-19T10:00:00+01:00")
    epi = complete_epikrise("S2", s, "2024-03-15T10:00:00+01:00", "2024-03-19T10:00:00+01:00", ringsaker())
    assert (await world.client.post_event(epi))[0] == 200
    s = "2024-03-18T09:00:00+01:00"
    await world.post(s, "A01", hamar(), enc("S3", s, "8000012"))
    await world.post(
        "2024-03-20T10:00:00+01:00",
        "A16",
        hamar(),
        enc("S3", s, "8000012", ready="2024-03-20T10:00:00+01:00"),
        arrives="2024-03-21T08:00:00+01:00",
    )
    await world.post(
        "2024-03-22T10:00:00+01:00", "A03", hamar(), enc("S3", s, "8000012", end="2024-03-22T10:00:00+01:00")
    )
    s = "2024-03-25T09:00:00+01:00"
    await world.post(s, "A01", hamar(), enc("S4", s, "8000012", services_expected=False))
    end = "2024-03-27T10:00:00+01:00"
    await world.post(end, "A03", hamar(), enc("S4", s, "8000012", services_expected=False, end=end))
    world.at("2024-03-27T20:00:00+01:00")
    assert (
        await world.client.post_event(complete_epikrise("S4", s, end, "2024-03-27T20:00:00+01:00", hamar()))
    )[0] == 200
    s1, s3 = await messages_of(world, 1), await messages_of(world, 3)
    assert (len(s1), len(s3)) == (7, 6)
    for m, delay in [(m, 1) for m in s1] + [(m, 100) for m in s3]:
        sent = parse_fhir_datetime(m["time"])
        await world.receipt(iso(sent + timedelta(hours=delay)), m["messageId"])
    world.at("2024-04-20T12:00:00+02:00")


def share(count: int, of: int) -> dict[str, Any]:
    return {"count": count, "of": of, "share": round(count / of, 4) if of else None}


# Hand-worked figures (see four_stays):
# epikrise ≤ 1 day: S1 yes (4 h), S2 no (4 days), S3 none, S4 yes (10 h); ≤ 7 days: S2 yes too.
# 24-hour notice: S1 met, S2 missed (A01 27 h late), S3 met, S4 owes none (no services expected).
# ready notice same day: S1 met, S2 met, S3 missed (sent the next morning); S4 never ready.
# no receipt within 96 h: S1 0 of 7, S2 7 of 7, S3 6 of 6 (100 h), S4 5 of 5.
# waiting days: S1 Wed 6th + Thu 7th = 2 × 5 745 = 11 490 kr; S2 and S3 not billable (late notices).
EXPECTED = {
    ("department", "8000011"): {  # S1 + S2
        "epikrise1d": share(1, 2),
        "epikrise7d": share(2, 2),
        "admissionNotice": share(1, 2),
        "readyNotice": share(2, 2),
        "noReceipt96h": share(0 + 7, 7 + 7),
        "waitingDays": 2,
        "waitingDayAmount": 11490,
    },
    ("department", "8000012"): {  # S3 + S4
        "epikrise1d": share(1, 2),
        "epikrise7d": share(1, 2),
        "admissionNotice": share(1, 1),
        "readyNotice": share(0, 1),
        "noReceipt96h": share(6 + 5, 6 + 5),
        "waitingDays": 0,
        "waitingDayAmount": 0,
    },
    ("municipality", "3403"): {  # S1 + S3 + S4
        "epikrise1d": share(2, 3),
        "epikrise7d": share(2, 3),
        "admissionNotice": share(2, 2),
        "readyNotice": share(1, 2),
        "noReceipt96h": share(0 + 6 + 5, 7 + 6 + 5),
        "waitingDays": 2,
        "waitingDayAmount": 11490,
    },
    ("municipality", "3411"): {  # S2
        "epikrise1d": share(0, 1),
        "epikrise7d": share(1, 1),
        "admissionNotice": share(0, 1),
        "readyNotice": share(1, 1),
        "noReceipt96h": share(7, 7),
        "waitingDays": 0,
        "waitingDayAmount": 0,
    },
}


async def test_the_report_figures_match_the_hand_worked_ones(world: Scene) -> None:
    """Per department and per municipality, every share and the waiting days equal the worked figures."""
    await four_stays(world)
    report = await world.get(f"/reports/compliance?{PERIOD}")
    got = {
        (g["dimension"], g["group"]): {k: g[k] for k in EXPECTED[("department", "8000011")]}
        for g in report["groups"]
    }
    assert got == EXPECTED
    total = report["total"]
    assert (total["epikrise1d"], total["epikrise7d"]) == (share(2, 4), share(3, 4))
    assert (total["admissionNotice"], total["readyNotice"]) == (share(2, 3), share(2, 3))
    assert total["noReceipt96h"] == share(18, 25) and total["waitingDayAmount"] == 11490


async def test_a_period_counts_only_what_fell_in_it(world: Scene) -> None:
    """From 18 March: only S3 and S4 were admitted, discharged and messaged in it; S2's epikrise of the 19th
    counts for nothing because S2's discharge (15th) is before the period."""
    await four_stays(world)
    report = await world.get("/reports/compliance?from=2024-03-18&to=2024-03-31")
    total = report["total"]
    assert total["epikrise1d"] == share(1, 2) and total["admissionNotice"] == share(1, 1)
    assert total["readyNotice"] == share(0, 1)
    assert total["noReceipt96h"] == share(1 + 6 + 5, 1 + 6 + 5)  # S2's epikrise (19th) + S3 + S4


async def test_the_csv_has_one_row_per_group_and_a_total(world: Scene) -> None:
    """CSV rows carry the same counts as the JSON; shares with four decimals."""
    await four_stays(world)
    async with world.client.session.get(
        f"{world.client.base}/reports/compliance?{PERIOD}&format=csv"
    ) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "attachment" in resp.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [(r["dimension"], r["group"]) for r in rows] == [*sorted(EXPECTED), ("total", "all")]
    hamar = next(r for r in rows if r["group"] == "3403")
    assert (hamar["epikrise1d_count"], hamar["epikrise1d_of"], hamar["epikrise1d_share"]) == (
        "2",
        "3",
        "0.6667",
    )
    assert hamar["waitingDayAmount"] == "11490"


async def test_the_html_page_has_an_inline_chart_and_a_strict_policy(world: Scene) -> None:
    """The page draws bars in inline SVG (no scripts, nothing fetched), served with default-src 'none'."""
    await four_stays(world)
    status, page, headers = await world.text(f"/reports/compliance?{PERIOD}&format=html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert (
        "<svg" in page
        and "<script" not in page
        and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    )
    assert "Epikrise within 1 day: 50.0 % (1/2)" in page  # D1's bar title
    assert "11\u00a0490\u00a0NOK" in page  # no-break spaces: the amount stays on one line


async def test_a_bad_period_or_format_is_refused_with_the_reason(world: Scene) -> None:
    """Missing or malformed dates, from after to, or an unknown format: 400 naming the parameter."""
    for query, detail in [
        ("to=2024-03-31", "'from' is required"),
        ("from=2024-13-01&to=2024-03-31", "'from' must be a date"),
        ("from=2024-04-01&to=2024-03-31", "'from' must not be after 'to'"),
        (f"{PERIOD}&format=pdf", "format must be json, csv or html"),
    ]:
        status, body = await world.client.get_json(f"/reports/compliance?{query}")
        assert status == 400 and detail in body["detail"], query


async def test_gateway_report_prints_the_same_figures(world: Scene) -> None:
    """`gateway report --from --to --format json|csv` on the data directory gives the API's figures."""
    await four_stays(world)
    api = await world.get(f"/reports/compliance?{PERIOD}")
    cmd = [sys.executable, "-m", "gateway.cli", "report", "--from", "2024-03-01", "--to", "2024-03-31"]
    cmd += ["--data-dir", str(world.client.settings.data_dir)]
    out = subprocess.run([*cmd, "--format", "json"], capture_output=True, text=True, timeout=60, check=True)
    printed = json.loads(out.stdout)
    # the command's clock is the real one: every deadline in March 2024 is long past, as at the API's now
    assert printed["groups"] == api["groups"] and printed["total"] == api["total"]
    assert datetime.fromisoformat(printed["generatedAt"].replace("Z", "+00:00")).year >= 2025
    out = subprocess.run([*cmd, "--format", "csv"], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines()[0].startswith("dimension,group,epikrise1d_count")
    bad = subprocess.run(
        [*cmd[:5], "2024-04-01", "--to", "2024-03-01", "--data-dir", str(world.client.settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "'from' must not be after 'to'" in bad.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
async def test_the_report_page_renders_in_chromium_under_its_policy(world: Scene) -> None:
    """Headless Chromium, fetching the page from the gateway (its CSP applies), renders chart and table."""
    await four_stays(world)
    path = f"/reports/compliance?{PERIOD}&format=html"
    text = await rendered_dom(world.client.base, path, auth_headers(world.client.settings))
    assert "<h1>Compliance 2024-03-01 – 2024-03-31</h1>" in text
    assert text.count("<rect ") == 4 * 4  # four groups, four charted shares each
    assert "72.0 % (18/25)" in text  # the total's share without receipt, as worked out above
