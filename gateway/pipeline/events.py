"""The inbound event as the pipeline sees it: what happened, when, to which stay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.fhir import codes
from adapters.fhir.references import first_identifier, index_bundle, resolve
from adapters.problems import InputRejected, Problem
from gateway.clock import iso, parse_fhir_datetime

Resource = dict[str, Any]


@dataclass(slots=True)
class InboundEvent:
    message_id: str
    event_code: str
    event_time: str  # UTC, sortable (clock.iso)
    stay_key: str | None  # encounter identifier system|value; None for a patient-only A40
    person: tuple[str, str] | None  # (system, value) of the Norwegian person id
    resources: list[Resource]  # every entry but the MessageHeader
    sender_her: str | None


def _event_time(
    header: Resource,
    bundle: Resource,
    event: str,
    focus: Resource | None,
    encounter: Resource | None,
    received_at: str,
) -> str:
    for ext in header.get("extension") or ():
        if ext.get("url") == codes.EXT_EVENT_TIME and ext.get("valueDateTime"):
            return iso(parse_fhir_datetime(ext["valueDateTime"]))
    period = (encounter or {}).get("period") or {}
    if event == "A03" and period.get("end"):
        return iso(parse_fhir_datetime(period["end"]))
    if event in ("A01", "A04") and period.get("start"):
        return iso(parse_fhir_datetime(period["start"]))
    if focus and focus.get("resourceType") == "Composition" and focus.get("date"):
        return iso(parse_fhir_datetime(focus["date"]))
    if bundle.get("timestamp"):
        return iso(parse_fhir_datetime(bundle["timestamp"]))
    return received_at


def event_from_bundle(bundle: Resource, received_at: str) -> InboundEvent:
    """Extract the pipeline's view of an already validated inbound message Bundle."""
    header = bundle["entry"][0]["resource"]
    index = index_bundle(bundle)
    event = header["eventCoding"]["code"]
    focus = resolve(index, (header.get("focus") or [None])[0])
    encounter: Resource | None = None
    if focus and focus.get("resourceType") == "Encounter":
        encounter = focus
    elif focus and focus.get("resourceType") == "Composition":
        encounter = resolve(index, focus.get("encounter"))
    stay_key = None
    if encounter:
        ident = next((i for i in encounter.get("identifier") or () if i.get("value")), None)
        if ident:
            stay_key = f"{ident.get('system', '')}|{ident['value']}"
    if stay_key is None and event != "A40":
        raise InputRejected([Problem("Encounter.identifier", "required", "no stay identifier")])
    patient = next((r for r in index.values() if r.get("resourceType") == "Patient"), None)
    person = first_identifier(patient, codes.PERSON_ID_SYSTEMS) if patient else None
    sender = resolve(index, header.get("sender"))
    sender_her = first_identifier(sender, (codes.HER,)) if sender else None
    resources = [e["resource"] for e in bundle["entry"][1:] if isinstance(e.get("resource"), dict)]
    return InboundEvent(
        message_id=header["id"],
        event_code=event,
        event_time=_event_time(header, bundle, event, focus, encounter, received_at),
        stay_key=stay_key,
        person=person,
        resources=resources,
        sender_her=sender_her[1] if sender_her else None,
    )
