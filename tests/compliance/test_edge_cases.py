"""Edge cases of deadlines and waiting days, each through the real gateway with hand-counted days:
avmelding and a new ready episode, readmission the same day, death while waiting, weekend and
public-holiday discharges, daylight-saving days, late and out-of-order events, and an answer that
arrives before the ready notice's receipt."""

from __future__ import annotations

from pathlib import Path

from tests import builders as b
from tests.compliance.scene import ALLOCATION, Scene, scene
from tests.compliance.test_waiting_days import ADMIT, READY, admitted_and_ready, answer, enc


async def test_ready_then_avmelding_then_ready_again_counts_two_episodes(world: Scene) -> None:
    """Ready Wed 6th, avmelding Thu 7th, ready again Sat 9th, discharged Mon 11th:
    {6th} + {9th, 10th} = 3 days."""
    stay_id, first = await admitted_and_ready(world)
    await world.post("2024-03-07T12:00:00+01:00", "A25", b.patient(), enc(ready=READY))
    again = "2024-03-09T09:00:00+01:00"
    await world.post(again, "A16", b.patient(), enc(ready=again))
    await world.post("2024-03-11T10:00:00+01:00", "A03", b.patient(), enc(end="2024-03-11T10:00:00+01:00"))
    notices = await world.message_ids(ALLOCATION, "LOG_UTSKRIVNINGSKLAR")
    assert len(notices) == 2 and notices[0] == first
    assert len(await world.message_ids(ALLOCATION, "LOG_AVMELDING")) == 1
    days = await world.get(f"/stays/{stay_id}/waiting-days")
    one, two = days["episodes"]
    assert one["end"]["reason"] == "avmelding" and [d["date"] for d in one["days"]] == ["2024-03-06"]
    assert [n["messageId"] for n in one["evidence"]["readyNotices"]] == [first]
    assert two["end"]["reason"] == "discharge" and [d["date"] for d in two["days"]] == [
        "2024-03-09",
        "2024-03-10",
    ]
    assert [n["messageId"] for n in two["evidence"]["readyNotices"]] == [notices[1]]
    assert one["billable"] and two["billable"] and days["billableDays"] == 3 and days["amount"] == 3 * 5745
    timeline = (await world.get(f"/stays/{stay_id}/timeline"))["timeline"]
    kinds = [
        t["kind"] for t in timeline if t["kind"] in ("ready-for-discharge", "ready-cancelled", "discharge")
    ]
    assert kinds == ["ready-for-discharge", "ready-cancelled", "ready-for-discharge", "discharge"]


async def test_an_avmelding_before_the_day_ends_owes_no_ready_notice(world: Scene) -> None:
    """A patient whose municipality is not in the directory gets no notices: the ready day's deadline,
    cancelled by an avmelding the same morning, is void, while the missed 24-hour notice is overdue."""
    unknown = b.patient(municipality="9999")
    await world.post(ADMIT, "A01", unknown, enc())
    await world.post(READY, "A16", b.patient(municipality="9999"), enc(ready=READY))
    await world.post("2024-03-06T11:00:00+01:00", "A25", b.patient(municipality="9999"), enc(ready=READY))
    world.at("2024-03-07T12:00:00+01:00")  # the ready day is over; no 96-hour receipt deadline has passed
    assert {(i.rule_id, i.episode) for i in await world.watcher.step()} == {
        ("TIME-ADMISSION-NOTICE", "admission")
    }
    deadlines = (await world.get(f"/stays/{await world.stay_id()}/timeline"))["deadlines"]
    assert {d["ruleId"]: d["verdict"] for d in deadlines if d["ruleId"] != "TIME-RECEIPT"} == {
        "TIME-ADMISSION-NOTICE": "missed",
        "TIME-READY-NOTICE": "void",
    }


async def test_readmission_the_same_day_is_a_new_stay_and_the_day_is_counted_once(world: Scene) -> None:
    """Stay 1 ready Wed, discharged Fri 10:00 (Wed, Thu); stay 2 admitted Fri 18:00, ready Fri 20:00,
    discharged Sun (Fri, Sat): Friday counts once, for the stay the patient is waiting in at its end."""
    stay_id, _ = await admitted_and_ready(world)
    await world.post("2024-03-08T10:00:00+01:00", "A03", b.patient(), enc(end="2024-03-08T10:00:00+01:00"))
    start2 = "2024-03-08T18:00:00+01:00"
    ready2 = "2024-03-08T20:00:00+01:00"
    await world.post(start2, "A01", b.patient(), b.encounter("V2", start=start2))
    await world.post(ready2, "A16", b.patient(), b.encounter("V2", start=start2, ready=ready2))
    await world.post(
        "2024-03-10T12:00:00+01:00",
        "A03",
        b.patient(),
        b.encounter("V2", start=start2, end="2024-03-10T12:00:00+01:00"),
    )
    second = await world.stay_id("V2")
    assert second != stay_id
    first_days = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"][0]["days"]
    second_days = (await world.get(f"/stays/{second}/waiting-days"))["episodes"][0]["days"]
    assert [d["date"] for d in first_days] == ["2024-03-06", "2024-03-07"]
    assert [d["date"] for d in second_days] == ["2024-03-08", "2024-03-09"]


async def test_death_while_waiting_ends_the_count_on_the_day_of_death(world: Scene) -> None:
    """Ready Wed, died Fri 03:00: Wed and Thu counted; no discharge deadlines for the report or notice."""
    stay_id, _ = await admitted_and_ready(world)
    await world.post(
        "2024-03-08T03:00:00+01:00",
        "A03",
        b.patient(),
        enc(end="2024-03-08T03:00:00+01:00", disposition="exp"),
    )
    days = await world.get(f"/stays/{stay_id}/waiting-days")
    [ep] = days["episodes"]
    assert ep["end"]["reason"] == "death" and [d["date"] for d in ep["days"]] == ["2024-03-06", "2024-03-07"]
    timeline = await world.get(f"/stays/{stay_id}/timeline")
    assert "death" in [t["kind"] for t in timeline["timeline"]]
    assert not [d for d in timeline["deadlines"] if d["episode"] == "discharge"]


async def test_a_discharge_on_a_public_holiday_keeps_same_day_deadlines_and_counts_holidays(
    tmp_path: Path,
) -> None:
    """Ready Wed 27 Mar 2024, discharged Easter Monday 1 Apr: 27, 28 (Maundy Thursday), 29 (Good Friday),
    30, 31 (Easter Sunday) = 5 days; the report is due by midnight of Easter Monday all the same."""
    async for world in scene(tmp_path, "2024-03-25T08:00:00+01:00"):
        start = "2024-03-25T09:00:00+01:00"
        await world.post(start, "A01", b.patient(), b.encounter(start=start))
        await world.post(
            "2024-03-27T10:00:00+01:00",
            "A16",
            b.patient(),
            b.encounter(start=start, ready="2024-03-27T10:00:00+01:00"),
        )
        end = "2024-04-01T11:00:00+02:00"
        await world.post(end, "A03", b.patient(), b.encounter(start=start, end=end))
        stay_id = await world.stay_id()
        days = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"][0]["days"]
        assert [d["date"] for d in days] == [
            "2024-03-27",
            "2024-03-28",
            "2024-03-29",
            "2024-03-30",
            "2024-03-31",
        ]
        deadlines = {d["ruleId"]: d for d in (await world.get(f"/stays/{stay_id}/timeline"))["deadlines"]}
        assert deadlines["TIME-REPORT"]["due"] == "2024-04-01T22:00:00Z"  # midnight, summer time (UTC+2)
        assert deadlines["TIME-EPIKRISE"]["due"] == "2024-04-02T09:00:00Z"  # 24 h, no holiday extension


async def test_a_23_hour_ready_day_is_one_day_and_its_deadline_is_its_own_midnight(tmp_path: Path) -> None:
    """Ready Sat 30 Mar 2024 22:30 (CET); clocks go forward on Sunday 31st (23 hours); discharged Tue 2 Apr:
    30, 31, 1 = 3 days; the ready notice is due at 24:00 on the 30th = 23:00Z."""
    async for world in scene(tmp_path, "2024-03-28T08:00:00+01:00"):
        start = "2024-03-28T09:00:00+01:00"
        ready = "2024-03-30T22:30:00+01:00"
        await world.post(start, "A01", b.patient(), b.encounter(start=start))
        await world.post(ready, "A16", b.patient(), b.encounter(start=start, ready=ready))
        end = "2024-04-02T10:00:00+02:00"
        await world.post(end, "A03", b.patient(), b.encounter(start=start, end=end))
        stay_id = await world.stay_id()
        [ep] = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"]
        assert [d["date"] for d in ep["days"]] == ["2024-03-30", "2024-03-31", "2024-04-01"]
        [ready_rule] = [d for d in ep["evidence"]["deadlines"] if d["ruleId"] == "TIME-READY-NOTICE"]
        assert ready_rule["due"] == "2024-03-30T23:00:00Z" and ready_rule["verdict"] == "met"


async def test_a_25_hour_ready_day_gives_the_ready_notice_25_hours(tmp_path: Path) -> None:
    """Ready Sun 27 Oct 2024 00:30 CEST (22:30Z on the 26th); clocks go back that night, so the day ends at
    24:00 CET = 23:00Z on the 27th: a notice sent at 23:30 CET (22:30Z) is on time; 27th and 28th counted."""
    async for world in scene(tmp_path, "2024-10-25T08:00:00+02:00"):
        start = "2024-10-25T09:00:00+02:00"
        ready = "2024-10-27T00:30:00+02:00"
        await world.post(start, "A01", b.patient(), b.encounter(start=start))
        await world.post(
            ready,
            "A16",
            b.patient(),
            b.encounter(start=start, ready=ready),
            arrives="2024-10-27T23:30:00+01:00",
        )
        end = "2024-10-29T10:00:00+01:00"
        await world.post(end, "A03", b.patient(), b.encounter(start=start, end=end))
        [ep] = (await world.get(f"/stays/{await world.stay_id()}/waiting-days"))["episodes"]
        [ready_rule] = [d for d in ep["evidence"]["deadlines"] if d["ruleId"] == "TIME-READY-NOTICE"]
        assert ready_rule["start"] == "2024-10-26T22:30:00Z" and ready_rule["due"] == "2024-10-27T23:00:00Z"
        assert ready_rule["doneAt"] == "2024-10-27T22:30:00Z" and ready_rule["verdict"] == "met"
        assert ep["billable"] and [d["date"] for d in ep["days"]] == ["2024-10-27", "2024-10-28"]


async def test_an_avmelding_arriving_late_ends_the_count_at_its_clinical_time(world: Scene) -> None:
    """The avmelding of Thursday reaches the gateway on Saturday: counting still stops Thursday (1 day),
    and the episode's deadline and days come from clinical times, not arrival."""
    stay_id, _ = await admitted_and_ready(world)
    await world.post(
        "2024-03-07T12:00:00+01:00", "A25", b.patient(), enc(ready=READY), arrives="2024-03-09T12:00:00+01:00"
    )
    [ep] = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"]
    assert ep["end"] == {"date": "2024-03-07", "reason": "avmelding", "answer": None}
    assert [d["date"] for d in ep["days"]] == ["2024-03-06"]


async def test_a_discharge_arriving_before_an_earlier_update_is_folded_in_clinical_order(
    world: Scene,
) -> None:
    """A03 (Fri) posted before the A08 of Thursday: the stay still ends Friday, days Wed and Thu."""
    stay_id, _ = await admitted_and_ready(world)
    await world.post("2024-03-08T10:00:00+01:00", "A03", b.patient(), enc(end="2024-03-08T10:00:00+01:00"))
    await world.post(
        "2024-03-07T10:00:00+01:00", "A08", b.patient(), enc(ready=READY), arrives="2024-03-08T11:00:00+01:00"
    )
    [ep] = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"]
    assert ep["end"]["reason"] == "discharge" and [d["date"] for d in ep["days"]] == [
        "2024-03-06",
        "2024-03-07",
    ]


async def test_an_answer_before_the_receipt_counts_and_proves_the_notice_arrived(world: Scene) -> None:
    """The municipality answers 'cannot' at 10:30, the AppRec (even an avvist one) comes at 11:00: the
    answer proves receipt, the episode is billable, and the timeline shows the answer first."""
    stay_id, notice = await admitted_and_ready(world)
    no = await answer(world, "2024-03-06T10:30:00", notice, "KAN_IKKE_MOTTA")
    await world.receipt("2024-03-06T11:00:00+01:00", notice, "fatal-error")
    await world.post("2024-03-08T10:00:00+01:00", "A03", b.patient(), enc(end="2024-03-08T10:00:00+01:00"))
    [ep] = (await world.get(f"/stays/{stay_id}/waiting-days"))["episodes"]
    assert ep["billable"] and ep["reasons"] == []
    assert [(d["basis"], d["answer"]) for d in ep["days"]] == [("cannot-receive", no)] * 2
    timeline = (await world.get(f"/stays/{stay_id}/timeline"))["timeline"]
    order = [
        t["kind"]
        for t in timeline
        if t["kind"] in ("municipality-answer", "receipt") and t.get("messageId", notice) == notice
    ]
    assert order[:2] == ["municipality-answer", "receipt"]
