"""A stay from admission to discharge: notices, cancels, out-of-order events, documents."""

from __future__ import annotations

from adapters.fhir import codes
from tests import builders as b
from tests.conftest import Client, ext, header

NURSING, ALLOCATION, GP = "8100011", "8100012", "8200011"
T_ADMIT = "2026-11-02T10:00:00+01:00"
T_READY = "2026-11-05T09:00:00+01:00"
T_CANCEL = "2026-11-05T15:00:00+01:00"
T_READY2 = "2026-11-06T09:00:00+01:00"
T_OUT = "2026-11-07T11:00:00+01:00"


def event(code: str, at: str, *extra: dict, **enc: object) -> dict:
    return b.message(code, b.patient(), b.encounter(**enc), *extra, event_time=at)  # type: ignore[arg-type]


async def types(client: Client, her: str) -> list[str]:
    return [f"{e['messageType']}/{e['dispatchStatus']}" for e in await client.feed(her)]


async def test_ready_cancelled_ready_again_then_discharged_home(gateway: Client) -> None:
    """Each ready period gets its own notice; avmelding answers the cancelled one (HIS 1149)."""
    await gateway.post_event(event("A01", T_ADMIT))
    await gateway.post_event(event("A16", T_READY, ready=T_READY))
    await gateway.post_event(event("A25", T_CANCEL))
    await gateway.post_event(event("A16", T_READY2, ready=T_READY2))
    await gateway.post_event(event("A03", T_OUT, end=T_OUT, disposition="home"))
    assert await types(gateway, ALLOCATION) == [
        "HELSEOPPL_SOKNAD/N",
        "LOG_UTSKRIVNINGSKLAR/N",
        "LOG_AVMELDING/N",
        "LOG_UTSKRIVNINGSKLAR/N",
    ]
    assert await types(gateway, NURSING) == ["LOG_INNLAGT/N", "LOG_UTSKREVET/N"]
    ready = [
        m
        for m in await gateway.messages(ALLOCATION)
        if header(m)["eventCoding"]["code"] == "LOG_UTSKRIVNINGSKLAR"
    ]
    times = [ext(header(m), codes.EXT_EVENT_TIME) for m in ready]
    assert times == ["2026-11-05T08:00:00Z", "2026-11-06T08:00:00Z"]
    # the deciding physician travels with the ready notice
    encounter = next(e["resource"] for e in ready[0]["entry"] if e["resource"]["resourceType"] == "Encounter")
    assert ext(encounter, codes.EXT_READY_DECIDED_BY)["identifier"]["value"] == "9144889"


async def test_events_arriving_out_of_order_are_placed_by_event_time(gateway: Client) -> None:
    """The discharge arrives before the admission: the stay still ends discharged, admitted first."""
    await gateway.post_event(event("A03", T_OUT, end=T_OUT))
    await gateway.post_event(event("A01", T_ADMIT))
    status, stay = await gateway.get_json("/stays/1")
    assert status == 200 and stay["status"] == "discharged"
    events = [t["code"] for t in stay["timeline"] if t["kind"] == "event"]
    assert events == ["A01", "A03"]
    assert stay["state"]["admitted_at"] == "2026-11-02T09:00:00Z"


async def test_no_admission_notice_once_the_patient_has_left(gateway: Client) -> None:
    """The discharge arrives first: the admission notices are not sent after the fact (HIS 1149
    notifies of an admitted patient while admitted); the discharge notices are."""
    await gateway.post_event(event("A03", T_OUT, end=T_OUT))
    await gateway.post_event(event("A01", T_ADMIT))
    assert await types(gateway, NURSING) == ["LOG_UTSKREVET/N"]
    assert await types(gateway, ALLOCATION) == []


async def test_admission_notices_already_sent_are_not_cancelled_by_the_discharge(gateway: Client) -> None:
    await gateway.post_event(event("A01", T_ADMIT))
    await gateway.post_event(event("A03", T_OUT, end=T_OUT))
    assert await types(gateway, NURSING) == ["LOG_INNLAGT/N", "LOG_UTSKREVET/N"]


async def test_cancelled_admission_cancels_what_was_sent(gateway: Client) -> None:
    await gateway.post_event(event("A01", T_ADMIT))
    await gateway.post_event(event("A11", "2026-11-02T12:00:00+01:00"))
    feed = await gateway.feed(NURSING)
    assert [f"{e['messageType']}/{e['dispatchStatus']}" for e in feed] == ["LOG_INNLAGT/N", "LOG_INNLAGT/C"]
    first, cancel = await gateway.messages(NURSING)
    assert ext(header(cancel), codes.EXT_CONVERSATION_REF) == header(first)["id"]
    assert ext(header(cancel), codes.EXT_PARENT_REF) == header(first)["id"]
    assert ext(header(cancel), codes.EXT_DISPATCH_STATUS) == "C"
    assert header(cancel)["id"] != header(first)["id"]


async def test_cancelled_discharge_cancels_the_discharge_notice(gateway: Client) -> None:
    await gateway.post_event(event("A01", T_ADMIT))
    await gateway.post_event(event("A03", T_OUT, end=T_OUT))
    await gateway.post_event(event("A13", "2026-11-07T12:00:00+01:00"))
    assert await types(gateway, NURSING) == ["LOG_INNLAGT/N", "LOG_UTSKREVET/N", "LOG_UTSKREVET/C"]
    status, stay = await gateway.get_json("/stays/1")
    assert (status, stay["status"]) == (200, "admitted")


async def test_death_in_hospital_tells_home_nursing_and_the_gp(gateway: Client) -> None:
    await gateway.post_event(event("A01", T_ADMIT))
    await gateway.post_event(event("A03", T_OUT, end=T_OUT, disposition="exp"))
    assert "LOG_DOD/N" in await types(gateway, NURSING)
    assert "LOG_UTSKREVET/N" not in await types(gateway, NURSING)
    assert "LOG_DOD/N" in await types(gateway, GP)


async def test_discharge_medication_list_carries_each_change_and_its_reason(gateway: Client) -> None:
    admission_meds = [
        b.medication("C09AA05", "Ramipril", "5 mg x 1", category="inpatient"),
        b.medication("N02BE01", "Paracetamol", "1 g x 4", category="inpatient"),
        b.medication("B01AC06", "Acetylsalisylsyre", "75 mg x 1", category="inpatient"),
    ]
    discharge_meds = [
        b.medication("C09AA05", "Ramipril", "10 mg x 1", reason="Blodtrykk over mål"),
        b.medication("N02BE01", "Paracetamol", "1 g x 4"),
        b.medication("B01AC06", "Acetylsalisylsyre", "75 mg x 1", status="stopped", reason="Blødning"),
        b.medication("B01AF02", "Apixaban", "5 mg x 2", reason="Atrieflimmer"),
    ]
    await gateway.post_event(event("A01", T_ADMIT, *admission_meds))
    await gateway.post_event(event("A03", T_OUT, *discharge_meds, end=T_OUT))
    gp_messages = await gateway.messages(GP)
    med_list = next(m for m in gp_messages if header(m)["eventCoding"]["code"] == "LEGEMIDDELLISTE")
    statements = {
        s["medicationCodeableConcept"]["text"]: s
        for s in (e["resource"] for e in med_list["entry"])
        if s["resourceType"] == "MedicationStatement"
    }
    changes = {name: ext(s, codes.EXT_MED_CHANGE) for name, s in statements.items()}
    assert changes == {
        "Ramipril": "changed",
        "Paracetamol": "unchanged",
        "Acetylsalisylsyre": "stopped",
        "Apixaban": "new",
    }
    assert statements["Acetylsalisylsyre"]["statusReason"][0]["text"] == "Blødning"
    assert ext(header(med_list), codes.EXT_GP_CLASS) == "action-required"
    assert med_list["meta"]["tag"][0]["code"] == "action-required"
    assert "LEGEMIDDELLISTE/N" in await types(gateway, NURSING)


async def test_discharge_without_medication_changes_is_information_only_for_the_gp(gateway: Client) -> None:
    meds = [b.medication("N02BE01", "Paracetamol", "1 g x 4", category="inpatient")]
    await gateway.post_event(event("A01", T_ADMIT, *meds))
    await gateway.post_event(
        event("A03", T_OUT, b.medication("N02BE01", "Paracetamol", "1 g x 4"), end=T_OUT)
    )
    notat = [m for m in await gateway.messages(GP) if header(m)["eventCoding"]["code"] == "DIALOG_NOTAT"][-1]
    assert ext(header(notat), codes.EXT_GP_CLASS) == "information"


async def test_document_new_change_and_cancel(gateway: Client) -> None:
    """Utskrivningsrapport N, then amended (M, same conversation), then entered-in-error (C)."""
    await gateway.post_event(event("A01", T_ADMIT))
    enc = b.encounter()
    for status, text in (
        ("final", "Kontroll om 2 uker."),
        ("amended", "Kontroll om 1 uke."),
        ("entered-in-error", "Kontroll om 1 uke."),
    ):
        doc = b.composition("DOC-1", status=status, sections={"AA": "Pneumoni.", "OP": text})
        await gateway.post_event(b.message("T02", b.patient(), enc, doc, focus=doc))
    feed = [e for e in await gateway.feed(NURSING) if e["messageType"] == "UTSKRIVNINGSRAPPORT"]
    assert [e["dispatchStatus"] for e in feed] == ["N", "M", "C"]
    assert len({e["conversationId"] for e in feed}) == 1
    assert feed[1]["parentId"] == feed[0]["messageId"] and feed[2]["parentId"] == feed[1]["messageId"]
    # the GP gets a copy in the demo helsefellesskap, and the follow-up plan makes it action-required
    gp_copy = [
        m for m in await gateway.messages(GP) if header(m)["eventCoding"]["code"] == "UTSKRIVNINGSRAPPORT"
    ]
    assert ext(header(gp_copy[0]), codes.EXT_GP_CLASS) == "action-required"


async def test_epikrise_goes_to_the_gp(gateway: Client) -> None:
    await gateway.post_event(event("A01", T_ADMIT))
    doc = b.composition("EPI-1", codes.LOINC_EPIKRISE, sections={"AA": "Hjertesvikt.", "VU": "Stabil."})
    await gateway.post_event(b.message("T02", b.patient(), b.encounter(), doc, focus=doc))
    epikrise = [m for m in await gateway.messages(GP) if header(m)["eventCoding"]["code"] == "EPIKRISE"]
    assert len(epikrise) == 1
    assert ext(header(epikrise[0]), codes.EXT_GP_CLASS) == "information"
    assert not [e for e in await gateway.feed(NURSING) if e["messageType"] == "EPIKRISE"]


async def test_a_patient_moving_municipality_cancels_the_old_and_tells_the_new(gateway: Client) -> None:
    await gateway.post_event(event("A01", T_ADMIT))
    await gateway.post_event(
        b.message(
            "A08", b.patient(municipality="3411"), b.encounter(), event_time="2026-11-03T10:00:00+01:00"
        )
    )
    assert await types(gateway, NURSING) == ["LOG_INNLAGT/N", "LOG_INNLAGT/C"]
    assert await types(gateway, "8100021") == ["LOG_INNLAGT/N"]
