"""Every rule of the national and the example local pack, on a stay that passes it and one that fails it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from adapters.fhir import codes
from gateway.directory.embedded import DEMO_DIRECTORY, EmbeddedDirectory, entries_from_file
from gateway.pipeline.events import event_from_bundle
from gateway.pipeline.stay import fold
from gateway.rules.deadlines import due_at, start_of, verdict
from gateway.rules.model import Finding
from gateway.rules.offline import OfflineStays
from gateway.rules.packs import LOCAL_EXAMPLE_PACK, load_packs
from gateway.store.base import StayEventRow
from tests import builders as b
from tests.rules.complete_stay import CompleteStay

RULES = load_packs([LOCAL_EXAMPLE_PACK])
DIRECTORY = EmbeddedDirectory(entries_from_file(DEMO_DIRECTORY))
NOW = "2026-11-24T00:00:00Z"


def findings(stay: CompleteStay) -> list[Finding]:
    offline = OfflineStays(RULES, DIRECTORY, DIRECTORY)
    out: list[Finding] = []
    for bundle in stay.events():
        out += offline.check(event_from_bundle(bundle, NOW)).findings
    return out


def drop_section(where: str, code: str) -> Callable[[CompleteStay], None]:
    def change(stay: CompleteStay) -> None:
        sections = stay.report_sections if where == "report" else stay.epikrise_sections
        sections[:] = [s for s in sections if s["code"]["coding"][0]["code"] != code]

    return change


def no_medication(stay: CompleteStay) -> None:
    stay.admission_meds, stay.discharge_meds = [], []


def drop_reason(atc: str) -> Callable[[CompleteStay], None]:
    def change(stay: CompleteStay) -> None:
        for med in stay.discharge_meds:
            if med["medicationCodeableConcept"]["coding"][0]["code"] == atc:
                med.pop("statusReason", None)

    return change


def set_attr(name: str, value: object) -> Callable[[CompleteStay], None]:
    return lambda stay: setattr(stay, name, value)


def drop_assessment(criterion: str) -> Callable[[CompleteStay], None]:
    return lambda stay: stay.assessments.pop(criterion)


def no_unit_phone(stay: CompleteStay) -> None:
    assert stay.custodian is not None
    stay.custodian.pop("telecom")


def no_next_of_kin(stay: CompleteStay) -> None:
    stay.patient.pop("contact")


def next_of_kin_without_phone(stay: CompleteStay) -> None:
    stay.patient["contact"][0].pop("telecom")


def secondary_diagnosis_only(stay: CompleteStay) -> None:
    stay.conditions[0]["extension"][0]["valueCode"] = "secondary"


def uncoded_diagnosis(stay: CompleteStay) -> None:
    stay.conditions[0]["code"] = {"text": "Hjertesvikt"}


def no_responsibility(stay: CompleteStay) -> None:
    stay.destination = False
    drop_section("epikrise", "responsibility")(stay)


def paracetamol_forgotten(stay: CompleteStay) -> None:
    stay.discharge_meds = [
        m for m in stay.discharge_meds if m["medicationCodeableConcept"]["text"] != "Paracetamol"
    ]


def no_admission_start(stay: CompleteStay) -> None:
    original = stay.encounter

    def encounter(**kw: object) -> dict:
        enc = original(**kw)
        enc["period"].pop("start")
        return enc

    stay.encounter = encounter  # type: ignore[method-assign]


def no_services_flag(stay: CompleteStay) -> None:
    original = stay.encounter

    def encounter(**kw: object) -> dict:
        enc = original(**kw)
        enc["extension"] = [e for e in enc["extension"] if e["url"] != codes.EXT_SERVICES_EXPECTED]
        return enc

    stay.encounter = encounter  # type: ignore[method-assign]


def no_discharge_end(stay: CompleteStay) -> None:
    original = stay.encounter

    def encounter(**kw: object) -> dict:
        enc = original(**kw)
        enc["period"].pop("end", None)
        return enc

    stay.encounter = encounter  # type: ignore[method-assign]


def friday_afternoon(stay: CompleteStay) -> None:
    stay.discharge_time = "2026-11-06T16:00:00+01:00"  # a Friday


def christmas_eve_afternoon(stay: CompleteStay) -> None:
    stay.discharge_time = "2026-12-24T15:30:00+01:00"  # a Thursday, the day before a public holiday


def two_days_supplied(stay: CompleteStay) -> None:
    for s in stay.report_sections:
        if s["code"]["coding"][0]["code"] == "medicationHandedOut":
            s["extension"][0]["valueInteger"] = 2


def no_contact_phone(stay: CompleteStay) -> None:
    assert stay.ward_contact is not None
    stay.ward_contact.pop("telecom")


def no_gp(stay: CompleteStay) -> None:
    contact = stay.patient["contact"]
    stay.patient = b.patient(b.FNR_NO_GP)
    stay.patient["contact"] = contact


def follow_up_marked_empty(stay: CompleteStay) -> None:
    for s in stay.epikrise_sections:
        if s["code"]["coding"][0]["code"] == "OP":
            s.pop("text")
            s["emptyReason"] = {"coding": [{"code": "nilknown"}]}


# rule id → how to break a complete stay so that exactly this rule has something to say
FAIL: dict[str, list[Callable[[CompleteStay], None]]] = {
    "UR-PROBLEM": [drop_section("report", "PROB")],
    "UR-DIAGNOSES": [set_attr("conditions", [])],
    "UR-CRITICAL": [drop_section("report", "criticalInformation")],
    "UR-FOLLOW-UP": [drop_section("report", "OP")],
    "UR-CONTROLS": [drop_section("report", "controlAppointments")],
    "UR-MEDICATION": [no_medication],
    "UR-MED-GIVEN-TODAY": [drop_section("report", "medicationGivenToday")],
    "UR-MED-HANDED-OUT": [drop_section("report", "medicationHandedOut")],
    "UR-MED-ASSISTANCE": [drop_section("report", "medicationAssistance")],
    "UR-NURSING-SUMMARY": [drop_section("report", "8")],
    "UR-PRACTICAL": [drop_section("report", "IP")],
    "UR-AIDS": [drop_section("report", "aids")],
    "UR-RESPONSIBLE-UNIT": [no_unit_phone, set_attr("custodian", None)],
    "UR-NEXT-OF-KIN": [no_next_of_kin],
    "UR-CHILDREN": [drop_section("report", "children")],
    "EPI-DIAGNOSES": [secondary_diagnosis_only, set_attr("conditions", [])],
    "EPI-DIAGNOSIS-CODED": [uncoded_diagnosis],
    "EPI-MEDICATION": [no_medication],
    "EPI-FOLLOW-UP": [drop_section("epikrise", "OP")],
    "EPI-RESPONSIBILITY": [no_responsibility],
    "EPI-REASON": [drop_section("epikrise", "AA")],
    "EPI-COURSE": [drop_section("epikrise", "FB")],
    "EPI-AUTHOR": [set_attr("epikrise_author", False)],
    "LI-ADMITTED-AT": [no_admission_start],
    "LUT-DISCHARGED-AT": [no_discharge_end],
    "LUT-DESTINATION": [set_attr("disposition", None)],
    "MED-ACCOUNTED": [paracetamol_forgotten],
    "MED-CHANGE-REASON": [drop_reason("C03CA01"), drop_reason("N02BE01")],
    "MED-NEW-REASON": [drop_reason("B01AF02")],
    "LU-ADMITTED-AT": [no_admission_start],
    "LU-READY-DATE": [set_attr("ready_declared", False)],
    "LU-DECIDED-BY": [set_attr("decided_by_hpr", None)],
    "READY-ADMISSION-PROBLEMS": [drop_assessment("admissionProblems")],
    "READY-OTHER-PROBLEMS": [drop_assessment("otherProblems")],
    "READY-UNCLARIFIED": [drop_assessment("unclarifiedJustified")],
    "READY-FUNCTION": [drop_assessment("functionAssessed")],
    "EVT-DISPOSITION": [set_attr("disposition", None)],
    "EVT-SERVICES-EXPECTED": [no_services_flag],
    "LOC-LATE-DISCHARGE": [friday_afternoon, christmas_eve_afternoon],
    "LOC-THREE-DAYS": [two_days_supplied],
    "LOC-WARD-CONTACT": [no_contact_phone, set_attr("ward_contact", None)],
    "LOC-NEXT-OF-KIN-PHONE": [next_of_kin_without_phone],
    "LOC-GP-COPY": [no_gp],
    "LOC-EPIKRISE-ACTION": [follow_up_marked_empty],
}


def with_agreement(change: Callable[[CompleteStay], None]) -> Callable[[CompleteStay], None]:
    def both(stay: CompleteStay) -> None:
        change(stay)
        stay.agreement = "Avtalt med Hamar kommune, tildelingskontoret"

    return both


def ready_assessment_text_missing(stay: CompleteStay) -> None:
    stay.assessments["functionAssessed"] = ""


# passing variants beyond the complete stay: the edge each rule must let through
PASS: dict[str, list[Callable[[CompleteStay], None]]] = {
    "LOC-LATE-DISCHARGE": [with_agreement(friday_afternoon), with_agreement(christmas_eve_afternoon)],
    "UR-NEXT-OF-KIN": [lambda s: (no_next_of_kin(s), s.report_sections.append(_none_section("nextOfKin")))],
    "UR-MEDICATION": [
        lambda s: (no_medication(s), s.report_sections.append(_none_section("ME", codes.SECTION_8311)))
    ],
}


def _none_section(code: str, system: str = codes.DISCHARGE_CONTENT) -> dict:
    from tests.rules.complete_stay import section

    return section(code, None, system)


# timing rules: (start offset, done offset) that meets the deadline, and one that misses it
DEADLINE_CASES = {
    "TIME-ADMISSION-NOTICE": (timedelta(hours=23), timedelta(hours=25)),
    "TIME-READY-NOTICE": (timedelta(hours=14), timedelta(hours=15, minutes=30)),  # ready 09:00 local
    "TIME-REPORT": (timedelta(hours=12), timedelta(hours=13, minutes=30)),  # discharged 11:00 local
    "TIME-DISCHARGE-NOTICE": (timedelta(hours=12), timedelta(hours=13, minutes=30)),
    "TIME-EPIKRISE": (timedelta(hours=23), timedelta(days=1, minutes=1)),
    "TIME-RECEIPT": (timedelta(hours=95), timedelta(hours=97)),
}


def test_the_complete_stay_passes_every_rule() -> None:
    """The reference stay breaks no rule, so each failure below is caused by its one change."""
    assert [(f.rule_id, f.subject) for f in findings(CompleteStay())] == []


@pytest.mark.parametrize("rule_id", sorted(r.id for r in RULES.rules))
def test_rule_has_a_passing_and_a_failing_stay(rule_id: str) -> None:
    """Each rule fails on a stay built to break it and passes on the complete stay and its edge cases."""
    rule = RULES.get(rule_id)
    assert rule is not None
    if rule.deadline is not None:
        met, missed = DEADLINE_CASES.get(rule_id) or pytest.fail(f"timing rule {rule_id} has no case")
        events = [event_from_bundle(bundle, NOW) for bundle in CompleteStay().events()]
        state = fold(
            [StayEventRow(n, e.event_code, e.event_time, e.resources) for n, e in enumerate(events, 1)]
        )
        start = start_of(rule.deadline, state) or datetime.fromisoformat("2026-11-05T10:00:00+00:00")
        now = start + timedelta(days=30)
        assert verdict(rule.deadline, start, start + met, now) == "met"
        assert verdict(rule.deadline, start, start + missed, now) == "missed"
        assert verdict(rule.deadline, start, None, start + met) == "pending"
        return
    breaks = FAIL.get(rule_id) or pytest.fail(f"rule {rule_id} has no failing case")
    for change in breaks:
        stay = CompleteStay()
        change(stay)
        assert rule_id in {f.rule_id for f in findings(stay)}, change
    for change in PASS.get(rule_id, []):
        stay = CompleteStay()
        change(stay)
        assert rule_id not in {f.rule_id for f in findings(stay)}, change
    assert rule_id not in {f.rule_id for f in findings(CompleteStay())}


def test_deadline_due_times() -> None:
    """same-day ends at Oslo midnight (also across the DST change); durations count from the event."""
    rule = RULES.get("TIME-REPORT")
    assert rule is not None and rule.deadline is not None
    start = datetime.fromisoformat("2026-11-05T10:00:00+00:00")  # 11:00 in Oslo
    assert due_at(rule.deadline, start) == datetime.fromisoformat("2026-11-05T23:00:00+00:00")
    summer = datetime.fromisoformat("2026-07-01T21:30:00+00:00")  # 23:30 in Oslo (UTC+2)
    assert due_at(rule.deadline, summer) == datetime.fromisoformat("2026-07-01T22:00:00+00:00")
    admission = RULES.get("TIME-ADMISSION-NOTICE")
    assert admission is not None and admission.deadline is not None
    assert due_at(admission.deadline, start) == start + timedelta(hours=24)
