"""Realistic inbound FHIR message Bundles for tests (docs/FHIR-PROFILE.md, "Inbound")."""

from __future__ import annotations

import uuid
from typing import Any

from adapters.fhir import codes

Resource = dict[str, Any]

FNR_HAMAR = "12034512343"  # demo fastlegeregister: GP 9100001 (Hamar legesenter)
FNR_RINGSAKER = "03113825404"  # GP 9100002
FNR_NO_GP = "24125231124"
DNR = "52047112338"  # a D-nummer; GP 9100003
HOSPITAL_HER = "8000001"
DEPARTMENT_HER = "8000011"


def patient(
    person: str = FNR_HAMAR,
    municipality: str | None = "3403",
    *,
    temp_municipality: str | None = None,
    gp_her: str | None = None,
    family: str = "Nordmann",
    given: str = "Kari",
) -> Resource:
    system = codes.DNR if int(person[0]) >= 4 else codes.FNR
    res: Resource = {
        "resourceType": "Patient",
        "id": "pat",
        "identifier": [{"system": system, "value": person}],
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1945-03-12",
        "address": [],
    }
    for use, number in (("home", municipality), ("temp", temp_municipality)):
        if number:
            res["address"].append(
                {
                    "use": use,
                    "line": ["Storgata 1"],
                    "postalCode": "2317",
                    "city": "Hamar",
                    "extension": [
                        {
                            "url": codes.NO_BASIS_PROPERTY,
                            "extension": [
                                {
                                    "url": "municipality",
                                    "valueCoding": {"system": codes.KOMMUNENUMMER, "code": number},
                                }
                            ],
                        }
                    ],
                }
            )
    if gp_her:
        res["generalPractitioner"] = [{"identifier": {"system": codes.HER, "value": gp_her}}]
    return res


def encounter(
    visit: str = "V1",
    *,
    start: str = "2026-11-02T10:00:00+01:00",
    end: str | None = None,
    ready: str | None = None,
    disposition: str | None = None,
    services_expected: bool = True,
    decided_by_hpr: str | None = "9144889",
) -> Resource:
    res: Resource = {
        "resourceType": "Encounter",
        "id": "enc",
        "status": "in-progress",
        "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.2.8000001.1", "value": visit}],
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/pat"},
        "period": {"start": start},
        "location": [{"location": {"display": "Medisinsk sengepost 3"}}],
        "serviceProvider": {"identifier": {"system": codes.HER, "value": DEPARTMENT_HER}},
        "extension": [{"url": codes.EXT_SERVICES_EXPECTED, "valueBoolean": services_expected}],
    }
    if end:
        res["period"]["end"] = end
        res["status"] = "finished"
    if ready:
        res["extension"].append({"url": codes.EXT_READY, "valueDateTime": ready})
        if decided_by_hpr:
            res["extension"].append(
                {
                    "url": codes.EXT_READY_DECIDED_BY,
                    "valueReference": {
                        "identifier": {"system": codes.HPR, "value": decided_by_hpr},
                        "display": "Lege Legesen",
                    },
                }
            )
    if disposition:
        res["hospitalization"] = {"dischargeDisposition": {"coding": [{"code": disposition}]}}
    return res


def medication(
    atc: str,
    name: str,
    dose: str,
    *,
    status: str = "active",
    category: str = "community",
    change: str | None = None,
    reason: str | None = None,
) -> Resource:
    res: Resource = {
        "resourceType": "MedicationStatement",
        "status": status,
        "category": {"coding": [{"code": category}]},
        "medicationCodeableConcept": {
            "coding": [{"system": codes.ATC, "code": atc, "display": name}],
            "text": name,
        },
        "subject": {"reference": "Patient/pat"},
        "dosage": [{"text": dose}],
    }
    if change:
        res["extension"] = [{"url": codes.EXT_MED_CHANGE, "valueCode": change}]
    if reason:
        res["statusReason"] = [{"text": reason}]
    return res


def message(
    event: str,
    *resources: Resource,
    focus: Resource | None = None,
    message_id: str | None = None,
    event_time: str | None = None,
) -> Resource:
    entries = []
    for n, res in enumerate(resources):
        rid = res.get("id") or f"r{n}"
        res.setdefault("id", rid)
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, res['resourceType'] + rid)}",
                "resource": res,
            }
        )
    focus = focus or next(r for r in resources if r["resourceType"] in ("Encounter", "Composition"))
    focus_url = next(e["fullUrl"] for e in entries if e["resource"] is focus)
    header: Resource = {
        "resourceType": "MessageHeader",
        "id": message_id or str(uuid.uuid4()),
        "eventCoding": {"system": codes.V2_EVENT, "code": event},
        "source": {"endpoint": "urn:epj:dips"},
        "sender": {"reference": "Organization/hospital"},
        "focus": [{"reference": focus_url}],
    }
    if event_time:
        header["extension"] = [{"url": codes.EXT_EVENT_TIME, "valueDateTime": event_time}]
    hospital = {
        "resourceType": "Organization",
        "id": "hospital",
        "identifier": [{"system": codes.HER, "value": HOSPITAL_HER}],
        "name": "Sykehuset Innlandet HF",
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "timestamp": event_time or "2026-11-02T10:00:00+01:00",
        "entry": [
            {"fullUrl": f"urn:uuid:{header['id']}", "resource": header},
            {"fullUrl": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "hospital")), "resource": hospital},
            *entries,
        ],
    }


def composition(
    doc_id: str,
    kind: str = codes.LOINC_UTSKRIVNINGSRAPPORT,
    *,
    status: str = "final",
    sections: dict[str, str] | None = None,
    date: str = "2026-11-06T12:00:00+01:00",
) -> Resource:
    sections = (
        sections if sections is not None else {"AA": "Innlagt med pneumoni.", "OP": "Kontroll hos fastlege."}
    )
    return {
        "resourceType": "Composition",
        "id": "doc",
        "status": status,
        "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.2.8000001.9", "value": doc_id},
        "type": {"coding": [{"system": codes.LOINC, "code": kind}]},
        "subject": {"reference": "Patient/pat"},
        "encounter": {"reference": "Encounter/enc"},
        "date": date,
        "author": [{"display": "Sykepleier Hansen"}],
        "title": "Utskrivningsrapport" if kind == codes.LOINC_UTSKRIVNINGSRAPPORT else "Epikrise",
        "section": [
            {
                "title": codes.SECTIONS_8311.get(code, code),
                "code": {"coding": [{"system": codes.SECTION_8311, "code": code}]},
                "text": {
                    "status": "generated",
                    "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>',
                },
            }
            for code, text in sections.items()
        ],
    }
