"""A complete discharge, as FHIR events built from tests/builders.py: every rule in the national
and the example local pack passes on it. Each rule test breaks one thing and sees that rule fail."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from adapters.fhir import codes
from tests import builders as b

Resource = dict[str, Any]
T_ADMIT = "2026-11-02T10:00:00+01:00"
T_READY = "2026-11-04T09:00:00+01:00"
T_DISCHARGE = "2026-11-05T11:00:00+01:00"  # a Thursday: no weekend or holiday rule applies
T_DOC = "2026-11-05T12:00:00+01:00"
READY_CRITERIA = ("admissionProblems", "otherProblems", "unclarifiedJustified", "functionAssessed")


def section(code: str, text: str | None, system: str = codes.DISCHARGE_CONTENT, **extra: Any) -> Resource:
    out: Resource = {"title": code, "code": {"coding": [{"system": system, "code": code}]}, **extra}
    if text is None:
        out["emptyReason"] = {"coding": [{"code": "notapplicable"}]}
    else:
        out["text"] = {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>',
        }
    return out


def phone(value: str) -> list[Resource]:
    return [{"system": "phone", "value": value}]


@dataclass
class CompleteStay:
    """The parts of a stay, each editable before `events()` builds the messages."""

    patient: Resource = field(default_factory=lambda: complete_patient())
    admission_meds: list[Resource] = field(
        default_factory=lambda: [
            b.medication("C03CA01", "Furosemid", "40 mg x 1", category="inpatient"),
            b.medication("C07AB02", "Metoprolol", "50 mg x 1", category="inpatient"),
            b.medication("N02BE01", "Paracetamol", "1 g x 3", category="inpatient"),
        ]
    )
    discharge_meds: list[Resource] = field(
        default_factory=lambda: [
            b.medication(
                "C03CA01",
                "Furosemid",
                "20 mg x 1",
                change="changed",
                reason="Lavere dose ved bedret væskebalanse",
            ),
            b.medication("C07AB02", "Metoprolol", "50 mg x 1", change="unchanged"),
            b.medication(
                "N02BE01",
                "Paracetamol",
                "1 g x 3",
                status="stopped",
                change="stopped",
                reason="Ikke lenger smerter",
            ),
            b.medication("B01AF02", "Apixaban", "5 mg x 2", change="new", reason="Nyoppdaget atrieflimmer"),
        ]
    )
    conditions: list[Resource] = field(
        default_factory=lambda: [
            {
                "resourceType": "Condition",
                "id": "dx1",
                "code": {"coding": [{"system": codes.ICD10, "code": "I50.9", "display": "Hjertesvikt"}]},
                "category": [{"coding": [{"code": "encounter-diagnosis"}]}],
                "extension": [{"url": codes.EXT_DIAGNOSIS_RANK, "valueCode": "main"}],
                "subject": {"reference": "Patient/pat"},
            }
        ]
    )
    assessments: dict[str, str] = field(
        default_factory=lambda: {c: "Vurdert og dokumentert." for c in READY_CRITERIA}
    )
    ready_declared: bool = True
    decided_by_hpr: str | None = "9144889"
    discharge_time: str = T_DISCHARGE
    disposition: str | None = "home"
    destination: bool = True
    agreement: str | None = None
    report_sections: list[Resource] = field(default_factory=lambda: complete_report_sections())
    custodian: Resource | None = field(
        default_factory=lambda: {
            "resourceType": "Organization",
            "id": "ward",
            "identifier": [{"system": codes.HER, "value": b.DEPARTMENT_HER}],
            "name": "Medisinsk sengepost 3",
            "telecom": phone("+47 62 00 00 03"),
        }
    )
    ward_contact: Resource | None = field(
        default_factory=lambda: {
            "resourceType": "Practitioner",
            "id": "nurse",
            "name": [{"family": "Hansen", "given": ["Siri"]}],
            "telecom": phone("+47 62 00 00 31"),
        }
    )
    epikrise_sections: list[Resource] = field(
        default_factory=lambda: [
            section("AA", "Innlagt med hjertesvikt.", codes.SECTION_8311),
            section("FB", "Diuretika i.v., bedring.", codes.SECTION_8311),
            section("OP", "Fastlege kontrollerer kreatinin om 1 uke.", codes.SECTION_8311),
            section("responsibility", "Fastlegen overtar oppfølgingen."),
        ]
    )
    epikrise_author: bool = True
    with_report: bool = True
    with_epikrise: bool = True

    def encounter(self, **kw: Any) -> Resource:
        enc = b.encounter(start=T_ADMIT, **kw)
        return enc

    def events(self) -> list[Resource]:
        """A01, A16, A03, then the Utskrivningsrapport and the Epikrise (T02)."""
        p = lambda: copy.deepcopy(self.patient)  # noqa: E731 - each message carries its own copy
        out = [
            b.message("A01", p(), self.encounter(), *copy.deepcopy(self.admission_meds), event_time=T_ADMIT)
        ]
        ready = self.encounter(
            ready=T_READY if self.ready_declared else None, decided_by_hpr=self.decided_by_hpr
        )
        if not self.ready_declared and self.decided_by_hpr:  # the decider without the ready time
            ready["extension"].append(
                {
                    "url": codes.EXT_READY_DECIDED_BY,
                    "valueReference": {
                        "identifier": {"system": codes.HPR, "value": self.decided_by_hpr},
                        "display": "Lege Legesen",
                    },
                }
            )
        for criterion, text in self.assessments.items():
            ready["extension"].append(
                {
                    "url": codes.EXT_READY_ASSESSMENT,
                    "valueCodeableConcept": {
                        "coding": [{"system": codes.READY_ASSESSMENT, "code": criterion}],
                        "text": text,
                    },
                }
            )
        out.append(b.message("A16", p(), ready, event_time=T_READY))
        discharge = self.encounter(end=self.discharge_time, disposition=self.disposition)
        if self.destination:
            discharge.setdefault("hospitalization", {})["destination"] = {
                "display": "Hjemmet, med hjemmesykepleie"
            }
        if self.agreement:
            discharge["extension"].append(
                {"url": codes.EXT_MUNICIPAL_AGREEMENT, "valueString": self.agreement}
            )
        out.append(
            b.message(
                "A03",
                p(),
                discharge,
                *copy.deepcopy(self.discharge_meds),
                *copy.deepcopy(self.conditions),
                event_time=self.discharge_time,
            )
        )
        if self.with_report:
            report = b.composition("UR-1", date=T_DOC, sections={})
            report["section"] = copy.deepcopy(self.report_sections)
            extra = []
            if self.custodian:
                report["custodian"] = {"reference": "Organization/ward"}
                extra.append(copy.deepcopy(self.custodian))
            if self.ward_contact:
                report["author"] = [{"reference": "Practitioner/nurse"}]
                extra.append(copy.deepcopy(self.ward_contact))
            out.append(
                b.message("T02", p(), self.encounter(end=self.discharge_time), report, *extra, focus=report)
            )
        if self.with_epikrise:
            epi = b.composition("EPI-1", codes.LOINC_EPIKRISE, date=T_DOC, sections={})
            epi["section"] = copy.deepcopy(self.epikrise_sections)
            epi["author"] = [{"display": "Lege Legesen"}] if self.epikrise_author else []
            out.append(b.message("T02", p(), self.encounter(end=self.discharge_time), epi, focus=epi))
        return out


def complete_patient() -> Resource:
    patient = b.patient()
    patient["contact"] = [
        {
            "relationship": [{"coding": [{"code": "N"}]}],
            "name": {"family": "Nordmann", "given": ["Ola"]},
            "telecom": phone("+47 900 00 000"),
        }
    ]
    return patient


def complete_report_sections() -> list[Resource]:
    days = {"extension": [{"url": codes.EXT_DAYS_SUPPLIED, "valueInteger": 3}]}
    return [
        section("PROB", "Hjertesvikt, bedret.", codes.SECTION_9142),
        section("criticalInformation", "Cave penicillin."),
        section("OP", "Vektkontroll daglig.", codes.SECTION_8311),
        section("controlAppointments", "Poliklinikk 20.11."),
        section("medicationGivenToday", "Morgendoser gitt kl. 08."),
        section("medicationHandedOut", "Dosett for tre døgn utlevert.", **days),
        section("medicationAssistance", "Trenger hjelp med dosett."),
        section("8", "Selvhjulpen i stell.", codes.SECTION_9141),
        section("IP", "Informert sammen med datter.", codes.SECTION_8311),
        section("aids", None),
        section("children", None),
    ]


def completed(code: str, resources: list[Resource]) -> list[Resource]:
    """The resources of one event with what the national pack asks of a handover filled in where
    missing (next of kin, the four ready assessments, where the patient goes, the documents'
    mandatory sections and authors, a coded diagnosis): how a careful ward would send it. Used by
    the scenario generator and the end-to-end benchmark; extra resources are appended."""
    extra: list[Resource] = []
    stay = CompleteStay()
    for res in resources:
        kind = res["resourceType"]
        if kind == "Patient" and not res.get("contact"):
            res["contact"] = complete_patient()["contact"]
        elif kind == "Encounter":
            exts = res.setdefault("extension", [])
            assessed = {
                c.get("code") for e in exts for c in (e.get("valueCodeableConcept") or {}).get("coding") or ()
            }
            if any(e["url"] == codes.EXT_READY for e in exts):
                exts += [
                    {
                        "url": codes.EXT_READY_ASSESSMENT,
                        "valueCodeableConcept": {
                            "coding": [{"system": codes.READY_ASSESSMENT, "code": criterion}],
                            "text": "Vurdert og dokumentert.",
                        },
                    }
                    for criterion in READY_CRITERIA
                    if criterion not in assessed
                ]
            if code == "A03" and (res.get("period") or {}).get("end"):
                hosp = res.setdefault("hospitalization", {})
                hosp.setdefault("dischargeDisposition", {"coding": [{"code": "home"}]})
                hosp.setdefault("destination", {"display": "Hjemmet, med hjemmesykepleie"})
        elif kind == "Composition":
            have = {c["code"] for s in res.get("section") or () for c in s["code"]["coding"]}
            if res["type"]["coding"][0]["code"] == codes.LOINC_UTSKRIVNINGSRAPPORT:
                sections = complete_report_sections()
                if not any(r["resourceType"] == "MedicationStatement" for r in resources):
                    sections.append(section("ME", None, codes.SECTION_8311))  # no drugs: said so
                if not res.get("custodian"):
                    res["custodian"] = {"reference": "Organization/ward"}
                    res["author"] = [{"reference": "Practitioner/nurse"}]
                    extra += [stay.custodian, stay.ward_contact]
            else:  # the epikrise
                sections = stay.epikrise_sections
                res["author"] = res.get("author") or [{"display": "Lege Legesen"}]
            res["section"] += [s for s in sections if s["code"]["coding"][0]["code"] not in have]
            if not any(r["resourceType"] == "Condition" for r in resources):
                extra += stay.conditions
    return [*resources, *extra]
