"""Outbound Bundles produced by the real pipeline: events posted to a running gateway, messages
read back from the recipients' feeds. Every KITH test renders these, not hand-written Bundles."""

from __future__ import annotations

from typing import Any

from adapters.fhir import codes
from tests import builders as b
from tests.conftest import Client, header

NURSING, ALLOCATION, GP = "8100011", "8100012", "8200011"
T_ADMIT = "2026-11-02T10:00:00+01:00"
T_ADMIT_FIXED = "2026-11-02T09:30:00+01:00"
T_READY = "2026-11-05T09:00:00+01:00"
T_READY_FIXED = "2026-11-05T10:00:00+01:00"
T_CANCEL = "2026-11-05T15:00:00+01:00"
T_OUT = "2026-11-07T11:00:00+01:00"
T_OUT_FIXED = "2026-11-07T12:00:00+01:00"

Bundle = dict[str, Any]


def condition(code: str, display: str, rank: str, system: str = codes.ICD10) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"cond-{code}",
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "category": [{"coding": [{"code": "encounter-diagnosis"}]}],
        "extension": [{"url": codes.EXT_DIAGNOSIS_RANK, "valueCode": rank}],
        "subject": {"reference": "Patient/pat"},
    }


ADMISSION_MEDS = [
    b.medication("C09AA05", "Ramipril", "5 mg x 1", category="inpatient"),
    b.medication("N02BE01", "Paracetamol", "1 g x 4", category="inpatient"),
    b.medication("B01AC06", "Acetylsalisylsyre", "75 mg x 1", category="inpatient"),
]
DISCHARGE_MEDS = [
    b.medication("C09AA05", "Ramipril", "10 mg x 1", reason="Blodtrykk over mål"),
    b.medication("N02BE01", "Paracetamol", "1 g x 4"),
    b.medication("B01AC06", "Acetylsalisylsyre", "75 mg x 1", status="stopped", reason="Blødning"),
    b.medication("B01AF02", "Apixaban", "5 mg x 2", reason="Atrieflimmer"),
]
DIAGNOSES = [
    condition("J189", "Pneumoni, uspesifisert", "main"),
    condition("I48", "Atrieflimmer", "secondary"),
]


def event(code: str, at: str, *extra: dict, visit: str = "V1", **enc: Any) -> Bundle:
    return b.message(code, b.patient(), b.encounter(visit, **enc), *extra, event_time=at)


async def _messages(gateway: Client, her: str) -> list[Bundle]:
    return await gateway.messages(her)


def kind(bundle: Bundle) -> str:
    return str(header(bundle)["eventCoding"]["code"])


def status(bundle: Bundle) -> str:
    return next(e["valueCode"] for e in header(bundle)["extension"] if e["url"] == codes.EXT_DISPATCH_STATUS)


async def all_outbound(gateway: Client) -> list[Bundle]:
    """Every message type the pipeline produces, each as N, M and C where the pipeline makes them."""
    # stay 1: admitted, admission time corrected, ready, ready time corrected, not ready, cancelled
    await gateway.post_event(event("A01", T_ADMIT, *ADMISSION_MEDS, start=T_ADMIT))
    await gateway.post_event(event("A01", T_ADMIT_FIXED, start=T_ADMIT_FIXED))  # a corrected A01
    await gateway.post_event(event("A16", T_READY, start=T_ADMIT_FIXED, ready=T_READY))
    await gateway.post_event(event("A16", T_READY, start=T_ADMIT_FIXED, ready=T_READY_FIXED))
    await gateway.post_event(event("A25", T_CANCEL, start=T_ADMIT_FIXED))
    await gateway.post_event(event("A11", T_CANCEL, start=T_ADMIT_FIXED))
    # stay 2: admitted, discharged home, discharge time corrected, discharge cancelled, documents
    v2 = {"visit": "V2"}
    await gateway.post_event(event("A01", T_ADMIT, *ADMISSION_MEDS, **v2))
    await gateway.post_event(event("A03", T_OUT, *DISCHARGE_MEDS, end=T_OUT, disposition="home", **v2))
    await gateway.post_event(event("A03", T_OUT, end=T_OUT_FIXED, disposition="snf", **v2))
    enc = b.encounter("V2", end=T_OUT_FIXED, disposition="snf")
    for doc_id, loinc, sections in (
        ("DOC-1", codes.LOINC_UTSKRIVNINGSRAPPORT, {"AA": "Pneumoni.", "OP": "Kontroll om 2 uker."}),
        (
            "EPI-1",
            codes.LOINC_EPIKRISE,
            {"AA": "Pneumoni.", "FB": "Antibiotika i.v.", "OP": "Kontroll hos fastlege."},
        ),
    ):
        for doc_status, plan in (
            ("final", None),
            ("amended", "Kontroll om 1 uke."),
            ("entered-in-error", None),
        ):
            text = dict(sections, OP=plan) if plan else sections
            doc = b.composition(doc_id, loinc, status=doc_status, sections=text)
            await gateway.post_event(
                b.message("T02", b.patient(), enc, doc, *DIAGNOSES, *DISCHARGE_MEDS, focus=doc)
            )
    await gateway.post_event(event("A13", T_OUT_FIXED, **v2))
    # stay 3: died in hospital, time corrected, then cancelled
    v3 = {"visit": "V3"}
    await gateway.post_event(event("A01", T_ADMIT, **v3))
    await gateway.post_event(event("A03", T_OUT, end=T_OUT, disposition="exp", **v3))
    await gateway.post_event(event("A03", T_OUT_FIXED, end=T_OUT_FIXED, disposition="exp", **v3))
    await gateway.post_event(event("A13", T_OUT_FIXED, **v3))
    out: list[Bundle] = []
    for her in (NURSING, ALLOCATION, GP):
        out += await _messages(gateway, her)
    return out
