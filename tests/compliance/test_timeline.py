"""A stay's timeline: every event with its inbound source, every notice with its receipts, the
municipality's answers, documents, and what the watcher found; plus the operations metrics."""

from __future__ import annotations

from tests import builders as b
from tests.compliance.scene import ALLOCATION, Scene, complete_epikrise
from tests.compliance.test_waiting_days import ADMIT, READY, admitted_and_ready, answer, enc


async def test_the_timeline_shows_each_step_with_its_source(world: Scene) -> None:
    """Admission, notices with receipts, ready, avmelding, ready again, the answer, discharge and the
    epikrise, in time order; events name their inbound message, receipts the message they answer."""
    stay_id, first = await admitted_and_ready(world)
    await world.receipt("2024-03-06T10:10:00+01:00", first)
    await world.post("2024-03-07T09:00:00+01:00", "A25", b.patient(), enc(ready=READY))
    again = "2024-03-07T15:00:00+01:00"
    await world.post(again, "A16", b.patient(), enc(ready=again))
    second = (await world.message_ids(ALLOCATION, "LOG_UTSKRIVNINGSKLAR"))[1]
    no = await answer(world, "2024-03-07T16:00:00", second, "KAN_IKKE_MOTTA", "2024-03-12")
    end = "2024-03-08T11:00:00+01:00"
    discharge = await world.post(end, "A03", b.patient(), enc(end=end))
    world.at("2024-03-08T13:00:00+01:00")
    status, _ = await world.client.post_event(
        complete_epikrise("V1", ADMIT, end, "2024-03-08T13:00:00+01:00")
    )
    assert status == 200
    body = await world.get(f"/stays/{stay_id}/timeline")
    entries = body["timeline"]
    steps = [
        (t["kind"], t["code"])
        for t in entries
        if t["kind"] != "message-sent" or t["code"] in ("LOG_UTSKRIVNINGSKLAR", "LOG_AVMELDING", "EPIKRISE")
    ]
    assert steps == [
        ("admission", "A01"),
        ("ready-for-discharge", "A16"),
        ("message-sent", "LOG_UTSKRIVNINGSKLAR"),
        ("receipt", "ok"),
        ("ready-cancelled", "A25"),
        ("message-sent", "LOG_AVMELDING"),
        ("ready-for-discharge", "A16"),
        ("message-sent", "LOG_UTSKRIVNINGSKLAR"),
        ("municipality-answer", "READY_ANSWER"),
        ("discharge", "A03"),
        ("document", "T02"),
        ("message-sent", "EPIKRISE"),
    ]
    by_kind = {}
    for t in entries:
        by_kind.setdefault(t["kind"], []).append(t)
    [receipt] = by_kind["receipt"]
    assert receipt["messageId"] == first and receipt["source"]["receiptFor"] == first
    [answered] = by_kind["municipality-answer"]
    assert answered["source"]["channel"] == "kith" and answered["source"]["inboundMessageId"] == no
    assert answered["answer"]["can_receive"] == "no" and answered["answer"]["from"] == "2024-03-12"
    assert answered["answer"]["answers"] == second
    [discharged] = by_kind["discharge"]
    discharge_id = discharge["entry"][0]["resource"]["response"]["identifier"]
    assert discharged["source"]["inboundMessageId"] == discharge_id
    [doc] = by_kind["document"]
    assert doc["document"] == {"id": "EPI-V1", "kind": "EPIKRISE", "status": "final"}
    notices = [t for t in by_kind["message-sent"] if t["code"] == "LOG_UTSKRIVNINGSKLAR"]
    assert [n["messageId"] for n in notices] == [first, second]
    assert all(n["recipient"] == ALLOCATION and n["dispatchStatus"] == "N" for n in notices)
    assert all(isinstance(n["source"]["inboundSeq"], int) for n in notices)
    verdicts = {
        (d["ruleId"], d["episode"]): d["verdict"] for d in body["deadlines"] if d["ruleId"] != "TIME-RECEIPT"
    }
    first_key = notices[0]["source"]["inboundSeq"]  # an episode is keyed by the seq of its A16
    second_key = notices[1]["source"]["inboundSeq"]
    assert verdicts == {
        ("TIME-ADMISSION-NOTICE", "admission"): "met",
        ("TIME-READY-NOTICE", f"ready:{first_key}"): "met",
        ("TIME-READY-NOTICE", f"ready:{second_key}"): "met",
        ("TIME-DISCHARGE-NOTICE", "discharge"): "met",
        ("TIME-EPIKRISE", "discharge"): "met",
        ("TIME-REPORT", "discharge"): "pending",  # no report yet; the discharge day is not over at 13:00
    }


async def test_a_missed_deadline_appears_on_the_timeline(world: Scene) -> None:
    """After the watcher records the missing report, the timeline shows it at its due time."""
    stay_id, _ = await admitted_and_ready(world)
    end = "2024-03-08T11:00:00+01:00"
    await world.post(end, "A03", b.patient(), enc(end=end))
    world.at("2024-03-09T08:00:00+01:00")
    await world.watcher.step()
    entries = (await world.get(f"/stays/{stay_id}/timeline"))["timeline"]
    missed = [
        (t["code"], t["time"], t["closedAt"])
        for t in entries
        if t["kind"] == "deadline-missed" and t["code"] != "TIME-RECEIPT"  # 96 h have passed too
    ]
    assert missed == [("TIME-REPORT", "2024-03-08T23:00:00Z", None)]


async def test_metrics_count_events_in_from_every_door_and_messages_out(world: Scene) -> None:
    """Events in (FHIR and KITH), messages out by type and status, and the existing delivery, receipt
    and held series are all in the Prometheus text at /metrics."""
    _, notice = await admitted_and_ready(world)
    await answer(world, "2024-03-06T12:00:00", notice, "KAN_IKKE_MOTTA")
    status, text, headers = await world.text("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'gateway_events_total{channel="fhir",event="A01",result="accepted"} 1.0' in text
    assert 'gateway_events_total{channel="kith",event="DIALOG",result="accepted"} 1.0' in text
    assert 'gateway_messages_total{status="N",type="LOG_UTSKRIVNINGSKLAR"} 1.0' in text
    for series in (
        "gateway_receipts_missing ",
        "gateway_messages_held ",
        'gateway_deliveries{state="pending"}',
    ):
        assert series in text
    assert "# TYPE gateway_delivery_attempts_total counter" in text  # outcome="retry": delivery retries
    assert "# TYPE gateway_deadlines_missed_total counter" in text
    assert "# TYPE gateway_held_escalations_total counter" in text
