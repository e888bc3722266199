"""The deadline watcher on a real gateway: overdue items (durable, one per stay/rule/episode, closed
when met late), log lines without patient data, metrics, and escalation of held documents."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import structlog

from gateway.clock import ManualClock
from gateway.compliance.watcher import DeadlineWatcher, WatcherSettings
from gateway.rules.packs import RuleBook
from tests import builders as b
from tests import raw_store
from tests.compliance.scene import Scene
from tests.rules.complete_stay import T_ADMIT, T_DISCHARGE, T_READY, CompleteStay

ADMIT = "2024-03-04T09:00:00+01:00"  # a Monday


def enc(**kw: object) -> dict:
    return b.encounter(start=ADMIT, **kw)  # type: ignore[arg-type]


async def discharged_without_documents(world: Scene) -> tuple[int, CompleteStay]:
    """The complete stay of tests/rules (admitted Monday 2 Nov 2026, ready Wednesday, discharged
    Thursday 11:00 Oslo), with neither report nor epikrise sent yet."""
    stay = CompleteStay()
    admit, ready, discharge = stay.events()[:3]
    for when, bundle in ((T_ADMIT, admit), (T_READY, ready), (T_DISCHARGE, discharge)):
        world.at(when)
        status, body = await world.client.post_event(bundle)
        assert status == 200, body
    return await world.stay_id(), stay


async def test_a_missed_deadline_becomes_one_open_item_however_often_the_watcher_runs(world: Scene) -> None:
    """The report not sent by the end of the discharge day opens one overdue item; later steps add none."""
    stay_id, _ = await discharged_without_documents(world)
    world.at("2026-11-05T23:59:00+01:00")
    assert await world.watcher.step() == []  # nothing due yet: notices went out with their events
    world.at("2026-11-06T00:01:00+01:00")
    new = await world.watcher.step()
    assert [(i.rule_id, i.episode, i.kind, i.closed_at) for i in new] == [
        ("TIME-REPORT", "discharge", "overdue", None)
    ]
    assert new[0].due_at == "2026-11-05T23:00:00Z"  # midnight in Oslo (CET, UTC+1)
    assert await world.watcher.step() == []
    world.at("2026-11-06T11:30:00+01:00")  # the epikrise is now late too (P1D after 11:00 Thursday)
    new = await world.watcher.step()
    # ... and the messages of the admission (sent Monday 10:00 Oslo) have had no receipt for 96 h
    stay = await world.get(f"/stays/{stay_id}")
    at_admission = {
        t["messageId"]
        for t in stay["timeline"]
        if t["kind"] == "message" and t["time"] == "2026-11-02T09:00:00Z"
    }
    assert len(at_admission) == 3  # LOG_INNLAGT, HELSEOPPL_SOKNAD, the GP's note
    assert {(i.rule_id, i.episode) for i in new} == {("TIME-EPIKRISE", "discharge")} | {
        ("TIME-RECEIPT", f"message:{m}") for m in at_admission
    }
    rows = raw_store.rows(
        world.client.settings,
        "SELECT rule_id, episode, closed_at FROM compliance_items WHERE rule_id != 'TIME-RECEIPT' "
        "ORDER BY rule_id",
    )
    assert rows == [("TIME-EPIKRISE", "discharge", None), ("TIME-REPORT", "discharge", None)]
    stay = await world.get(f"/stays/{stay_id}")
    assert {(c["ruleId"], c["status"]) for c in stay["compliance"]} == {
        ("TIME-EPIKRISE", "open"),
        ("TIME-REPORT", "open"),
        ("TIME-RECEIPT", "open"),
    }
    listed = [i for i in (await world.get("/overdue"))["items"] if i["ruleId"] != "TIME-RECEIPT"]
    assert [(i["stayId"], i["ruleId"], i["due"]) for i in listed] == [
        (stay_id, "TIME-REPORT", "2026-11-05T23:00:00Z"),
        (stay_id, "TIME-EPIKRISE", "2026-11-06T10:00:00Z"),
    ]


async def test_an_item_is_closed_when_the_deadline_is_met_late(world: Scene) -> None:
    """The epikrise sent two days after discharge closes its open item, with the time it was sent."""
    stay_id, stay = await discharged_without_documents(world)
    world.at("2026-11-06T11:30:00+01:00")
    await world.watcher.step()
    world.at("2026-11-07T10:00:00+01:00")
    status, _ = await world.client.post_event(stay.events()[4])  # the epikrise
    assert status == 200
    assert await world.watcher.step() == []  # closing is not news
    items = {i["ruleId"]: i for i in (await world.get(f"/stays/{stay_id}"))["compliance"]}
    assert items["TIME-EPIKRISE"]["status"] == "met-late"
    assert items["TIME-EPIKRISE"]["metAt"] == "2026-11-07T09:00:00Z"
    assert items["TIME-EPIKRISE"]["closed"] == "2026-11-07T09:00:00Z"
    still_open = {i["ruleId"] for i in (await world.get("/overdue"))["items"]}
    assert still_open == {"TIME-REPORT", "TIME-RECEIPT"}
    closed = (await world.get("/overdue?all=true"))["items"]
    assert {i["ruleId"] for i in closed} == {"TIME-REPORT", "TIME-EPIKRISE", "TIME-RECEIPT"}


async def test_a_deadline_met_late_before_the_watcher_looked_is_recorded_closed(world: Scene) -> None:
    """An admission whose A01 reached the gateway 30 hours late: the 24-hour notice was late, on record."""
    await world.post(ADMIT, "A01", b.patient(), enc(), arrives="2024-03-05T15:00:00+01:00")
    [item] = [i for i in await world.watcher.step() if i.rule_id == "TIME-ADMISSION-NOTICE"]
    assert item.kind == "overdue" and item.due_at == "2024-03-05T08:00:00Z"
    assert item.done_at == "2024-03-05T14:00:00Z" and item.closed_at == "2024-03-05T14:00:00Z"
    assert (await world.get("/overdue"))["items"] == []


class _Spy:
    """A Reader that notes which stays each read of stay records asks for."""

    def __init__(self, reader: Any, asked: list[list[int]]) -> None:
        self._reader, self._asked = reader, asked

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def stay_records(self, updated_since: str | None, stay_ids: Any = None) -> Any:
        self._asked.append(list(stay_ids or ()))
        return self._reader.stay_records(updated_since, stay_ids)


async def test_the_watcher_holds_one_stays_record_at_a_time(world: Scene, monkeypatch: Any) -> None:
    """A step's memory does not grow with the stays watched: each stay's record (its events, decoded)
    is read, judged and let go before the next one is read; every stay is still judged once."""
    for visit in ("V1", "V2", "V3"):
        await world.post(ADMIT, "A01", b.patient(), enc(visit=visit), arrives="2024-03-05T15:00:00+01:00")
    stays = sorted(s["stayId"] for s in (await world.get("/stays"))["stays"])
    store = world.watcher.store
    read, asked = store.read, []

    async def spied(query: Any) -> Any:
        return await read(lambda r: query(_Spy(r, asked)))

    monkeypatch.setattr(store, "read", spied)
    new = await world.watcher.step()
    assert asked == [[s] for s in stays]
    assert sorted(i.stay_id for i in new if i.rule_id == "TIME-ADMISSION-NOTICE") == stays


async def test_each_new_item_logs_one_line_without_patient_data_and_counts_a_metric(world: Scene) -> None:
    """deadline_missed names stay, rule and episode only; /metrics counts it and shows it open."""
    await discharged_without_documents(world)
    world.at("2026-11-06T00:01:00+01:00")
    with structlog.testing.capture_logs() as logs:
        await world.watcher.step()
        await world.watcher.step()
    lines = [entry for entry in logs if entry["event"] == "deadline_missed"]
    assert len(lines) == 1
    assert set(lines[0]) == {
        "event",
        "log_level",
        "stay_id",
        "rule",
        "episode",
        "message_type",
        "due",
        "met_late_at",
    }
    text = repr(lines[0])
    assert b.FNR_HAMAR not in text and "Nordmann" not in text and "Kari" not in text
    status, body, _ = await world.text("/metrics")
    assert status == 200
    assert 'gateway_deadlines_missed_total{rule="TIME-REPORT"} 1.0' in body
    assert 'gateway_compliance_items_open{kind="overdue",rule="TIME-REPORT"} 1.0' in body


async def test_a_held_report_near_its_deadline_is_escalated_and_released_when_sent(world: Scene) -> None:
    """A report held as incomplete is escalated 2 h before the end of the discharge day, then closed."""
    stay = CompleteStay(with_epikrise=False)
    complete = copy.deepcopy(stay.report_sections)
    stay.report_sections = [s for s in complete if s["code"]["coding"][0]["code"] != "children"]
    admit, ready, discharge, report = stay.events()
    world.at(T_ADMIT)
    for when, bundle in (
        (T_ADMIT, admit),
        (T_READY, ready),
        (T_DISCHARGE, discharge),
        ("2026-11-05T12:00:00+01:00", report),
    ):
        world.at(when)
        status, _ = await world.client.post_event(bundle)
        assert status == 200
    stay_id = await world.stay_id()
    assert {h["messageType"] for h in (await world.get(f"/stays/{stay_id}"))["state"]["held"]} == {
        "UTSKRIVNINGSRAPPORT"
    }
    world.at("2026-11-05T21:59:00+01:00")  # due 24:00 Oslo; the 2-hour margin starts at 22:00
    assert [i for i in await world.watcher.step() if i.kind == "escalated"] == []
    world.at("2026-11-05T22:00:00+01:00")
    with structlog.testing.capture_logs() as logs:
        [esc] = [i for i in await world.watcher.step() if i.kind == "escalated"]
    assert (esc.rule_id, esc.message_type, esc.due_at) == (
        "TIME-REPORT",
        "UTSKRIVNINGSRAPPORT",
        "2026-11-05T23:00:00Z",
    )
    assert [e["event"] for e in logs] == ["held_message_escalated"]
    assert [(i["kind"], i["status"]) for i in (await world.get("/overdue?kind=escalated"))["items"]] == [
        ("escalated", "open")
    ]
    _, metrics, _ = await world.text("/metrics")
    assert 'gateway_held_escalations_total{type="UTSKRIVNINGSRAPPORT"} 1.0' in metrics
    assert 'gateway_compliance_items_open{kind="escalated",rule="TIME-REPORT"} 1.0' in metrics
    # the ward completes the report before midnight: it goes out, and the escalation closes
    stay.report_sections = complete
    fixed = stay.events()[3]
    world.at("2026-11-05T22:30:00+01:00")
    status, _ = await world.client.post_event(fixed)
    assert status == 200
    await world.watcher.step()
    items = (await world.get(f"/stays/{stay_id}"))["compliance"]
    assert [(i["kind"], i["status"]) for i in items] == [("escalated", "released")]
    assert (await world.get("/overdue"))["items"] == []


async def test_the_watcher_runs_on_its_own_and_stops_on_its_flag(world: Scene) -> None:
    """run() evaluates without being called step by step, and returns promptly after stop()."""
    await discharged_without_documents(world)
    world.at("2026-11-06T00:01:00+01:00")
    store = world.watcher.store
    watcher = DeadlineWatcher(
        store,
        ManualClock(world.clock.now()),
        RuleBook(world.watcher.rules.current),
        None,
        WatcherSettings(interval=0.01),
    )
    task = asyncio.create_task(watcher.run())
    for _ in range(200):
        if (await world.get("/overdue"))["items"]:
            break
        await asyncio.sleep(0.01)
    assert [i["ruleId"] for i in (await world.get("/overdue"))["items"]] == ["TIME-REPORT"]
    watcher.stop()
    async with asyncio.timeout(2):
        await task


async def test_a_stop_during_a_step_ends_the_watcher_at_once(world: Scene) -> None:
    """stop() while a step is still reading must not be forgotten until the next interval (a
    slow step once made a stopping gateway wait its whole 10 s for the watcher)."""
    reading, release = asyncio.Event(), asyncio.Event()
    store = world.watcher.store

    class SlowStore:
        async def read(self, query):  # type: ignore[no-untyped-def]
            reading.set()
            await release.wait()
            return await store.read(query)

        async def write(self, unit):  # type: ignore[no-untyped-def]
            return await store.write(unit)

    watcher = DeadlineWatcher(
        SlowStore(),  # type: ignore[arg-type]
        ManualClock(world.clock.now()),
        RuleBook(world.watcher.rules.current),
        None,
        WatcherSettings(interval=60),
    )
    task = asyncio.create_task(watcher.run())
    await reading.wait()
    watcher.stop()
    release.set()
    async with asyncio.timeout(2):  # not the 60 s interval
        await task
