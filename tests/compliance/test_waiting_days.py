"""Waiting days (overliggedøgn) through the real gateway: counting, billability with reasons,
evidence, and the dated rate table. Every expected figure is worked out by hand in the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.compliance.rates import SHIPPED_RATES, RateError, load_rates
from gateway.ids import new_id
from tests import builders as b
from tests.compliance.scene import ALLOCATION, Scene, scene
from tests.kith.kith_docs import dialog_answer, post_kith

ADMIT = "2024-03-04T09:00:00+01:00"  # Monday
READY = "2024-03-06T10:00:00+01:00"  # Wednesday


def enc(**kw: object) -> dict:
    return b.encounter(start=ADMIT, **kw)  # type: ignore[arg-type]


async def admitted_and_ready(world: Scene, ready: str = READY, **kw: str) -> tuple[int, str]:
    """A01 at ADMIT, A16 at `ready` (on time unless `arrives` says otherwise): (stay id, ready notice id)."""
    await world.post(ADMIT, "A01", b.patient(), enc())
    await world.post(ready, "A16", b.patient(), enc(ready=ready), **kw)
    [notice] = await world.message_ids(ALLOCATION, "LOG_UTSKRIVNINGSKLAR")
    return await world.stay_id(), notice


async def answer(world: Scene, when: str, refers_to: str, topic: str, date: str | None = None) -> str:
    """The municipality's Dialogmelding (GenDate = `when`, Oslo local) answering our ready notice."""
    world.at(when + "+01:00")
    msg_id = new_id()
    body = dialog_answer(
        msg_id=msg_id, refers_to=refers_to, person=b.FNR_HAMAR, topic=topic, date=date, gen_date=when
    )
    status, _, _ = await post_kith(world.client, body)
    assert status == 200
    return msg_id


async def test_days_from_the_ready_date_to_discharge_are_counted_at_the_years_rate(world: Scene) -> None:
    """Ready Wednesday, 'cannot' the same day, discharged Saturday: Wed, Thu, Fri = 3 × 5 745 = 17 235 kr."""
    stay_id, notice = await admitted_and_ready(world)
    no = await answer(world, "2024-03-06T14:00:00", notice, "KAN_IKKE_MOTTA", "2024-03-11")
    await world.receipt("2024-03-06T10:05:00+01:00", notice)
    await world.post("2024-03-09T11:00:00+01:00", "A03", b.patient(), enc(end="2024-03-09T11:00:00+01:00"))
    days = await world.get(f"/stays/{stay_id}/waiting-days")
    [ep] = days["episodes"]
    assert ep["billable"] and ep["reasons"] == []
    assert ep["end"] == {"date": "2024-03-09", "reason": "discharge", "answer": None}
    assert [(d["date"], d["basis"], d["answer"], d["amount"]) for d in ep["days"]] == [
        ("2024-03-06", "cannot-receive", no, 5745),
        ("2024-03-07", "cannot-receive", no, 5745),
        ("2024-03-08", "cannot-receive", no, 5745),
    ]
    assert days["billableDays"] == 3 and days["amount"] == 17235 and days["currency"] == "NOK"
    [evidence] = ep["evidence"]["readyNotices"]
    assert evidence["messageId"] == notice and evidence["sent"] == "2024-03-06T09:00:00Z"
    assert [r["status"] for r in evidence["receipts"]] == ["ok"]
    assert [a["message_id"] for a in ep["evidence"]["answers"]] == [no]
    assert {d["ruleId"]: d["verdict"] for d in ep["evidence"]["deadlines"]} == {
        "TIME-ADMISSION-NOTICE": "met",
        "TIME-READY-NOTICE": "met",
    }


async def test_no_answer_counts_and_can_receive_ends_counting_on_its_date(world: Scene) -> None:
    """No answer Wed–Thu; Friday 'can from Sunday 10th': Wed, Thu, Fri, Sat counted (4), discharge Tue."""
    stay_id, notice = await admitted_and_ready(world)
    yes = await answer(world, "2024-03-08T09:00:00", notice, "KAN_MOTTA", "2024-03-10")
    await world.post("2024-03-12T11:00:00+01:00", "A03", b.patient(), enc(end="2024-03-12T11:00:00+01:00"))
    [ep] = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"]
    assert ep["end"] == {"date": "2024-03-10", "reason": "municipality-can-receive", "answer": yes}
    assert [(d["date"], d["basis"]) for d in ep["days"]] == [
        ("2024-03-06", "no-answer"),
        ("2024-03-07", "no-answer"),
        ("2024-03-08", "cannot-receive-until-date"),
        ("2024-03-09", "cannot-receive-until-date"),
    ]
    assert ep["amount"] == 4 * 5745 == 22980


async def test_a_still_waiting_patient_counts_the_days_ended_so_far(world: Scene) -> None:
    """Ready Wednesday, now Friday noon: Wednesday and Thursday have ended, so 2 days, episode ongoing."""
    stay_id, _ = await admitted_and_ready(world)
    world.at("2024-03-08T12:00:00+01:00")
    [ep] = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"]
    assert ep["ongoing"] and ep["end"] is None
    assert [d["date"] for d in ep["days"]] == ["2024-03-06", "2024-03-07"]


async def test_a_ready_notice_sent_the_next_day_makes_the_episode_not_billable(world: Scene) -> None:
    """The A16 (ready Wednesday) reached the gateway Thursday morning: the notice was late, so no payment."""
    stay_id, _ = await admitted_and_ready(world, arrives="2024-03-07T08:00:00+01:00")
    await world.post("2024-03-09T11:00:00+01:00", "A03", b.patient(), enc(end="2024-03-09T11:00:00+01:00"))
    days = await world.get(f"/stays/{stay_id}/waiting-days")
    [ep] = days["episodes"]
    assert not ep["billable"] and ep["dayCount"] == 3 and ep["billableDays"] == 0 and ep["amount"] == 0
    [reason] = ep["reasons"]
    assert reason.startswith("TIME-READY-NOTICE: LOG_UTSKRIVNINGSKLAR sent late")
    assert reason.endswith("(2024-03-07T07:00:00Z, due 2024-03-06T23:00:00Z)")
    assert days["amount"] == 0


async def test_a_late_24_hour_notice_makes_the_stay_not_billable(world: Scene) -> None:
    """The A01 arrived 30 hours after admission: the 24-hour notice was late, so no day is billable."""
    await world.post(ADMIT, "A01", b.patient(), enc(), arrives="2024-03-05T15:00:00+01:00")
    await world.post(READY, "A16", b.patient(), enc(ready=READY))
    await world.post("2024-03-09T11:00:00+01:00", "A03", b.patient(), enc(end="2024-03-09T11:00:00+01:00"))
    [ep] = (await world.get(f"/stays/{await world.stay_id()}/waiting-days"))["episodes"]
    assert not ep["billable"]
    assert [r.split(":")[0] for r in ep["reasons"]] == ["TIME-ADMISSION-NOTICE"]


async def test_a_rejected_ready_notice_is_not_a_notice_given(world: Scene) -> None:
    """An AppRec 'avvist' for the ready notice, and no answer: the municipality was not notified."""
    stay_id, notice = await admitted_and_ready(world)
    await world.receipt("2024-03-06T10:05:00+01:00", notice, "fatal-error")
    world.at("2024-03-08T12:00:00+01:00")
    [ep] = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"]
    assert not ep["billable"]
    assert ep["reasons"] == [f"ready notice {notice} was rejected by the receiver (AppRec avvist)"]


async def test_a_year_without_a_rate_gives_days_without_an_amount_and_says_so(tmp_path: Path) -> None:
    """2026 has no rate in the shipped table: 2 days counted, amount 0, the missing year named."""
    async for world in scene(tmp_path, "2026-03-02T08:00:00+01:00"):
        await world.post(
            "2026-03-02T09:00:00+01:00", "A01", b.patient(), b.encounter(start="2026-03-02T09:00:00+01:00")
        )
        await world.post(
            "2026-03-03T10:00:00+01:00",
            "A16",
            b.patient(),
            b.encounter(start="2026-03-02T09:00:00+01:00", ready="2026-03-03T10:00:00+01:00"),
        )
        world.at("2026-03-05T12:00:00+01:00")
        days = await world.get(f"/stays/{await world.stay_id()}/waiting-days")
        [ep] = days["episodes"]
        assert [(d["date"], d["rate"], d["amount"]) for d in ep["days"]] == [
            ("2026-03-03", None, None),
            ("2026-03-04", None, None),
        ]
        assert ep["billable"] and ep["billableDays"] == 2 and ep["amount"] == 0
        assert days["missingRates"] == [2026] and "no rate for 2026" in days["note"]


@pytest.fixture
async def with_2026_rate(tmp_path: Path) -> AsyncIterator[Scene]:
    extra = tmp_path / "rates-2026.yaml"
    extra.write_text("currency: NOK\nrates:\n  2026: 6000\n", encoding="utf-8")
    async for s in scene(tmp_path, "2026-03-02T08:00:00+01:00", waiting_day_rates=f"{SHIPPED_RATES},{extra}"):
        yield s


async def test_a_later_year_is_added_by_configuration(with_2026_rate: Scene) -> None:
    """With a rate file adding 2026 at 6 000 kr, the same two days cost 12 000 kr."""
    world = with_2026_rate
    start = "2026-03-02T09:00:00+01:00"
    await world.post(start, "A01", b.patient(), b.encounter(start=start))
    await world.post(
        "2026-03-03T10:00:00+01:00",
        "A16",
        b.patient(),
        b.encounter(start=start, ready="2026-03-03T10:00:00+01:00"),
    )
    world.at("2026-03-05T12:00:00+01:00")
    days = await world.get(f"/stays/{await world.stay_id()}/waiting-days")
    assert days["amount"] == 2 * 6000 and days["missingRates"] == []


async def test_days_across_new_year_take_each_years_rate(tmp_path: Path) -> None:
    """Ready 30 Dec 2023, discharged 2 Jan 2024: 30th, 31st at 5 508, 1st at 5 745 = 16 761 kr."""
    async for world in scene(tmp_path, "2023-12-28T08:00:00+01:00"):
        start = "2023-12-28T09:00:00+01:00"
        await world.post(start, "A01", b.patient(), b.encounter(start=start))
        await world.post(
            "2023-12-30T10:00:00+01:00",
            "A16",
            b.patient(),
            b.encounter(start=start, ready="2023-12-30T10:00:00+01:00"),
        )
        await world.post(
            "2024-01-02T10:00:00+01:00",
            "A03",
            b.patient(),
            b.encounter(start=start, end="2024-01-02T10:00:00+01:00"),
        )
        days = await world.get(f"/stays/{await world.stay_id()}/waiting-days")
        assert [(d["date"], d["amount"]) for d in days["episodes"][0]["days"]] == [
            ("2023-12-30", 5508),
            ("2023-12-31", 5508),
            ("2024-01-01", 5745),
        ]
        assert days["amount"] == 5508 + 5508 + 5745 == 16761


def test_the_shipped_rate_table_has_the_directorates_rates() -> None:
    """2022 5 306, 2023 5 508, 2024 5 745 kr; no other year is assumed."""
    table = load_rates([SHIPPED_RATES])
    assert table.rates == {2022: 5306, 2023: 5508, 2024: 5745} and table.rate(2025) is None


def test_a_rate_file_may_not_change_a_year_already_given(tmp_path: Path) -> None:
    """A second file saying 2024 costs 6 000 kr is refused, naming the file and the year."""
    bad = tmp_path / "local.yaml"
    bad.write_text("rates:\n  2024: 6000\n", encoding="utf-8")
    with pytest.raises(RateError, match=r"local.yaml: rates.2024: already 5745 kr"):
        load_rates([SHIPPED_RATES, bad])
    bad.write_text("rates:\n  2025: -3\n", encoding="utf-8")
    with pytest.raises(RateError, match=r"rates.2025: -3 is not a whole number of kr above 0"):
        load_rates([SHIPPED_RATES, bad])


async def test_an_unknown_stay_has_no_waiting_days(world: Scene) -> None:
    """404 for a stay that does not exist, 400 for a stay id that is not a number."""
    assert (await world.client.get_json("/stays/99/waiting-days"))[0] == 404
    assert (await world.client.get_json("/stays/x/waiting-days"))[0] == 400


async def test_a_bad_rate_file_stops_the_gateway_from_starting(tmp_path: Path) -> None:
    """A configured rate file that changes a shipped year's rate refuses the start, naming the file."""
    from aiohttp.test_utils import TestServer

    from gateway.app import build_app
    from tests.conftest import settings_for

    bad = tmp_path / "wrong.yaml"
    bad.write_text("rates:\n  2023: 9999\n", encoding="utf-8")
    settings = settings_for(tmp_path, waiting_day_rates=f"{SHIPPED_RATES},{bad}")
    server = TestServer(build_app(settings), host="127.0.0.1")
    with pytest.raises(RateError, match=r"wrong\.yaml: rates\.2023"):
        await server.start_server()
    await server.close()
