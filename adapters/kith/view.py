"""A read-only view of one outbound FHIR message Bundle (docs/FHIR-PROFILE.md, "Outbound").

Every KITH renderer reads the Bundle through this view, so the knowledge of where a fact lives in
the Bundle (extension URLs, references, identifier systems) sits in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from adapters.fhir import codes

Resource = dict[str, Any]
OSLO = ZoneInfo("Europe/Oslo")
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A coded diagnosis (ICD-10 7110 or ICPC-2 7170) as every KITH payload writes it."""

    code: str
    display: str
    system_oid: str  # the code list's OID, without urn:oid:
    main: bool  # H (hoveddiagnose) rather than B (bidiagnose)


class BundleShapeError(ValueError):
    """The Bundle lacks something every KITH message must carry (says what, never patient data)."""


def local_time(value: str | None) -> str | None:
    """A FHIR instant as Norwegian local time without offset, the form the official examples use.

    A bare date stays a date (the examples send dates alone where no time is known)."""
    if not value:
        return None
    if len(value) == 10:
        return value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(microsecond=0).isoformat()
    return parsed.astimezone(OSLO).replace(tzinfo=None, microsecond=0).isoformat()


def ext_value(resource: Resource | None, url: str) -> Any:
    for ext in (resource or {}).get("extension") or ():
        if ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def identifier(resource: Resource | None, *systems: str) -> tuple[str, str] | None:
    """The first identifier whose system is one of `systems`, as (system, value)."""
    for ident in (resource or {}).get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") in systems and ident.get("value"):
            return str(ident["system"]), str(ident["value"])
    return None


def plain_text(div: str | None) -> str:
    """The text of a narrative div, markup removed (a KITH notat carries plain text)."""
    import html

    return " ".join(html.unescape(_TAGS.sub(" ", div or "")).split())


def human_name(resource: Resource | None) -> tuple[str | None, str | None]:
    """(family, given) of the first name; a name given only as text is all family name."""
    names = (resource or {}).get("name") or []
    if not names:
        return None, None
    name = names[0]
    given = " ".join(name.get("given") or ()) or None
    return name.get("family") or (name.get("text") if not given else None), given


class OutboundView:
    def __init__(self, bundle: Resource) -> None:
        entries = bundle.get("entry") or []
        if not entries or (entries[0].get("resource") or {}).get("resourceType") != "MessageHeader":
            raise BundleShapeError("entry[0] is not a MessageHeader")
        self.bundle = bundle
        self.header: Resource = entries[0]["resource"]
        self.by_url: dict[str, Resource] = {e.get("fullUrl", ""): e.get("resource") or {} for e in entries}
        self.resources: list[Resource] = [e.get("resource") or {} for e in entries[1:]]

    def ref(self, reference: dict[str, Any] | None) -> Resource | None:
        return self.by_url.get((reference or {}).get("reference", ""))

    def first(self, resource_type: str) -> Resource | None:
        return next((r for r in self.resources if r.get("resourceType") == resource_type), None)

    def all(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.get("resourceType") == resource_type]

    # --- the envelope -------------------------------------------------------------------------
    @property
    def message_id(self) -> str:
        return str(self.header["id"])

    @property
    def message_type(self) -> str:
        return str((self.header.get("eventCoding") or {}).get("code") or "")

    @property
    def timestamp(self) -> str:
        return str(self.bundle.get("timestamp") or "")

    @property
    def dispatch_status(self) -> str:
        return str(ext_value(self.header, codes.EXT_DISPATCH_STATUS) or "N")

    @property
    def conversation_id(self) -> str:
        return str(ext_value(self.header, codes.EXT_CONVERSATION_REF) or self.message_id)

    @property
    def parent_id(self) -> str | None:
        return ext_value(self.header, codes.EXT_PARENT_REF)

    @property
    def event_code(self) -> str | None:
        coding = ext_value(self.header, codes.EXT_EVENT_CODE)
        return coding.get("code") if coding else None

    @property
    def event_time(self) -> str | None:
        return ext_value(self.header, codes.EXT_EVENT_TIME)

    @property
    def helseopplysninger_type(self) -> str:
        return str(ext_value(self.header, codes.EXT_HELSEOPPL_TYPE) or "1")

    # --- the parties --------------------------------------------------------------------------
    @cached_property
    def sender(self) -> Resource:
        org = self.ref(self.header.get("sender"))
        if org is None:
            raise BundleShapeError("MessageHeader.sender does not resolve")
        return org

    @cached_property
    def department(self) -> Resource | None:
        sender_url = (self.header.get("sender") or {}).get("reference")
        return next(
            (
                r
                for r in self.all("Organization")
                if (r.get("partOf") or {}).get("reference") == sender_url and sender_url
            ),
            None,
        )

    @cached_property
    def receiver(self) -> Resource:
        dest = (self.header.get("destination") or [{}])[0]
        party = self.ref(dest.get("receiver"))
        if party is None:
            raise BundleShapeError("MessageHeader.destination[0].receiver does not resolve")
        return party

    @cached_property
    def receiver_parent(self) -> Resource | None:
        """Level 1 of the receiver: the municipality above a service (`partOf`), the practice of a GP
        (the one Organization that is neither the sender nor its department; the profile gives the
        GP's Practitioner no link to it)."""
        party = self.receiver
        if party.get("partOf"):
            return self.ref(party["partOf"])
        if party.get("resourceType") == "Practitioner":
            return next(
                (o for o in self.all("Organization") if o is not self.sender and o is not self.department),
                None,
            )
        return None

    @property
    def receiver_is_gp(self) -> bool:
        return self.receiver.get("resourceType") == "Practitioner"

    # --- the clinical content -----------------------------------------------------------------
    @cached_property
    def patient(self) -> Resource:
        return self.first("Patient") or {}

    @cached_property
    def encounter(self) -> Resource:
        return self.first("Encounter") or {}

    @cached_property
    def composition(self) -> Resource | None:
        focus = self.ref((self.header.get("focus") or [{}])[0])
        return focus if focus and focus.get("resourceType") == "Composition" else None

    def person_id(self) -> tuple[str, str] | None:
        """("FNR" | "DNR" | "HNR", number) of the patient."""
        found = identifier(self.patient, *codes.PERSON_ID_SYSTEMS)
        if found is None:
            return None
        kind = {codes.FNR: "FNR", codes.DNR: "DNR", codes.HNR: "HNR"}[found[0]]
        return kind, found[1]

    @property
    def admitted_at(self) -> str | None:
        return (self.encounter.get("period") or {}).get("start")

    @property
    def discharged_at(self) -> str | None:
        return (self.encounter.get("period") or {}).get("end")

    @property
    def ready_at(self) -> str | None:
        return ext_value(self.encounter, codes.EXT_READY)

    @property
    def discharge_disposition(self) -> str | None:
        disposition = (self.encounter.get("hospitalization") or {}).get("dischargeDisposition") or {}
        coding = (disposition.get("coding") or [{}])[0]
        return coding.get("code") or disposition.get("text")

    def practitioner_by_hpr(self, hpr: str | None) -> Resource | None:
        if not hpr:
            return None
        return next(
            (p for p in self.all("Practitioner") if identifier(p, codes.HPR) == (codes.HPR, hpr)), None
        )

    @property
    def ready_decided_by(self) -> tuple[str | None, Resource | None]:
        """(HPR-nummer, Practitioner) of the physician who declared the patient ready."""
        ref = ext_value(self.encounter, codes.EXT_READY_DECIDED_BY) or {}
        hpr = (ref.get("identifier") or {}).get("value")
        found = self.practitioner_by_hpr(hpr) or self.ref(ref)
        if hpr is None and found is not None:
            hpr = (identifier(found, codes.HPR) or (None, None))[1]
        return hpr, found

    def conditions(self) -> list[Resource]:
        return self.all("Condition")

    def diagnoses(self) -> list[Diagnosis]:
        """The Conditions coded in ICD-10 or ICPC-2; others have no place in a KITH payload."""
        out = []
        for condition in self.conditions():
            concept = condition.get("code") or {}
            coding = next(
                (c for c in concept.get("coding") or () if c.get("system") in (codes.ICD10, codes.ICPC2)),
                None,
            )
            if coding is not None:
                out.append(
                    Diagnosis(
                        str(coding.get("code")),
                        coding.get("display") or concept.get("text") or "",
                        coding["system"].removeprefix(codes.OID),
                        ext_value(condition, codes.EXT_DIAGNOSIS_RANK) == "main",
                    )
                )
        return out

    def medications(self) -> list[Resource]:
        return self.all("MedicationStatement")

    def sections(self) -> list[tuple[str, str, str]]:
        """(8311 code or "", title, plain text) of each Composition section that has text."""
        out = []
        for section in (self.composition or {}).get("section") or ():
            code = next(
                (
                    c.get("code")
                    for c in (section.get("code") or {}).get("coding") or ()
                    if c.get("system") == codes.SECTION_8311
                ),
                "",
            )
            text = plain_text((section.get("text") or {}).get("div"))
            if text:
                out.append((code or "", section.get("title") or "", text))
        return out

    @property
    def document_id(self) -> str:
        ident = (self.composition or {}).get("identifier") or {}
        if isinstance(ident, list):
            ident = ident[0] if ident else {}
        return str(ident.get("value") or self.conversation_id)


def medication_change(statement: Resource) -> str:
    return str(ext_value(statement, codes.EXT_MED_CHANGE) or "unchanged")


def medication_reason(statement: Resource) -> str | None:
    reasons = statement.get("statusReason") or []
    texts = [r.get("text") or next((c.get("display") for c in r.get("coding") or ()), None) for r in reasons]
    return "; ".join(t for t in texts if t) or None


def medication_name_atc(statement: Resource) -> tuple[str, str | None]:
    concept = statement.get("medicationCodeableConcept") or {}
    atc = next((c for c in concept.get("coding") or () if c.get("system") == codes.ATC), None)
    name = concept.get("text") or (atc or {}).get("display") or (atc or {}).get("code") or "Ukjent legemiddel"
    return str(name), (atc or {}).get("code")


def medication_dosage(statement: Resource) -> str | None:
    text = " | ".join(str(d.get("text")) for d in statement.get("dosage") or () if d.get("text"))
    return text or None
