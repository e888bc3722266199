"""A stay's state, derived by folding its events in clinical order (event time, then arrival).

Nothing here is stored as truth: the events are. Folding again after each new event is what
makes late and out-of-order events land in the right place, and cancels (A11, A13, A25)
simply undo what they cancel at the point in time where they happened.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from adapters.fhir import codes
from adapters.fhir.references import first_identifier
from adapters.kith.dialog import EXT_ANSWERS_MESSAGE, EXT_READY_ANSWER
from gateway.clock import iso, parse_fhir_datetime
from gateway.store.base import StayEventRow

Resource = dict[str, Any]

DIED_CODES = {"exp", "20", "died", "dod"}

# Stay events that come from the municipality, not the hospital record (gateway/intake/kith.py):
# a Dialogmelding answering our LOG_UTSKRIVNINGSKLAR, and any other Dialogmelding about the stay.
READY_ANSWER = "READY_ANSWER"
DIALOG_NOTE = "DIALOG"


@dataclass
class ReadyEpisode:
    key: str  # inbound seq of the A16 that opened it: stable across updates
    ready_at: str
    decided_by: str | None = None  # reference key of the deciding Practitioner
    cancelled_at: str | None = None
    cancel_key: str | None = None
    # what the A16 itself said, kept for the ready notice's rules (docs/RULES.md): later events
    # bring new Encounters without these
    declared: bool = False  # the sender gave the ready time (gw:ready-for-discharge)
    decided_by_name: str | None = None
    assessed: list[str] = field(default_factory=list)  # gw:ready-assessment codes documented with text


@dataclass
class Document:
    doc_id: str
    kind: str  # EPIKRISE | UTSKRIVNINGSRAPPORT
    status: str  # composition status as last received
    event_time: str
    inbound_seq: int
    resources: list[Resource]  # the Composition first, then what its sections reference


@dataclass
class StayState:
    status: str = "new"  # admitted | ready | on-leave | discharged | died | admission-cancelled
    admitted_at: str | None = None
    discharged_at: str | None = None
    died_at: str | None = None
    services_expected: bool = False
    discharge_disposition: str | None = None
    location: str | None = None
    ready: list[ReadyEpisode] = field(default_factory=list)
    leave: list[dict[str, str | None]] = field(default_factory=list)
    patient: Resource | None = None
    encounter: Resource | None = None
    practitioners: dict[str, Resource] = field(default_factory=dict)
    organizations: dict[str, Resource] = field(default_factory=dict)
    conditions: list[Resource] = field(default_factory=list)
    medications_admission: list[Resource] = field(default_factory=list)
    medications_discharge: list[Resource] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)
    # the municipality's answers to "utskrivningsklar", in clinical order: can it take the patient,
    # and from when (waiting days are counted from these)
    ready_answers: list[dict[str, str | None]] = field(default_factory=list)
    last_event_seq: int = 0

    @property
    def current_ready(self) -> ReadyEpisode | None:
        if self.ready and self.ready[-1].cancelled_at is None:
            return self.ready[-1]
        return None

    def summary(self) -> dict[str, Any]:
        """The state without resources: what is cached in the stays table and shown in views."""
        return {
            "status": self.status,
            "admitted_at": self.admitted_at,
            "discharged_at": self.discharged_at,
            "died_at": self.died_at,
            "services_expected": self.services_expected,
            "discharge_disposition": self.discharge_disposition,
            "location": self.location,
            "ready": [vars(e).copy() for e in self.ready],
            "leave": list(self.leave),
            "documents": {
                k: {"kind": d.kind, "status": d.status, "event_time": d.event_time}
                for k, d in self.documents.items()
            },
            "ready_answers": [dict(a) for a in self.ready_answers],
        }


def _utc(value: str | None) -> str | None:
    """Every time in the state is UTC text (clock.iso), whatever offset the sender used."""
    return _utc_text(value) if value else None


@functools.lru_cache(maxsize=4096)
def _utc_text(value: str) -> str:
    # a stay is re-folded on every event, so the same few times are converted again and again
    return iso(parse_fhir_datetime(value))


def _ext(resource: Resource, url: str) -> dict[str, Any] | None:
    return next((e for e in resource.get("extension") or () if e.get("url") == url), None)


def resource_key(resource: Resource) -> str:
    """A stable key for a practitioner/organization: its first identifier, else its id."""
    for ident in resource.get("identifier") or ():
        if ident.get("value"):
            return f"{ident.get('system', '')}|{ident['value']}"
    return f"{resource.get('resourceType')}/{resource.get('id', '')}"


def _category_codes(resource: Resource) -> set[str]:
    cats = resource.get("category")
    cats = cats if isinstance(cats, list) else [cats] if cats else []
    return {c.get("code") for cat in cats for c in (cat or {}).get("coding") or ()}


def _document_kind(composition: Resource) -> str:
    loinc = {c.get("code") for c in (composition.get("type") or {}).get("coding") or ()}
    return "EPIKRISE" if codes.LOINC_EPIKRISE in loinc else "UTSKRIVNINGSRAPPORT"


def _absorb_resources(state: StayState, resources: list[Resource]) -> None:
    meds_discharge: list[Resource] = []
    meds_admission: list[Resource] = []
    for res in resources:
        kind = res.get("resourceType")
        if kind == "Patient":
            state.patient = res
        elif kind == "Encounter":
            state.encounter = res
            loc = (res.get("location") or [{}])[-1].get("location") or {}
            state.location = loc.get("display") or state.location
            flag = _ext(res, codes.EXT_SERVICES_EXPECTED)
            if flag is not None:
                state.services_expected = bool(flag.get("valueBoolean"))
            disposition = (res.get("hospitalization") or {}).get("dischargeDisposition") or {}
            coding = (disposition.get("coding") or [{}])[0]
            if coding.get("code") or disposition.get("text"):
                state.discharge_disposition = coding.get("code") or disposition.get("text")
        elif kind == "Practitioner":
            state.practitioners[resource_key(res)] = res
        elif kind == "Organization":
            state.organizations[resource_key(res)] = res
        elif kind == "Condition":
            state.conditions = [c for c in state.conditions if resource_key(c) != resource_key(res)] + [res]
        elif kind == "MedicationStatement":
            (meds_admission if "inpatient" in _category_codes(res) else meds_discharge).append(res)
    # A message carrying a medication list carries all of it: replace, don't merge.
    if meds_admission:
        state.medications_admission = meds_admission
    if meds_discharge:
        state.medications_discharge = meds_discharge


def _decider_name(state: StayState, decided: dict[str, Any] | None) -> str | None:
    """The deciding professional's name: the reference's display, else the Practitioner's name."""
    ref = (decided or {}).get("valueReference") or {}
    if ref.get("display"):
        return str(ref["display"])
    ident = ref.get("identifier") or {}
    practitioner = state.practitioners.get(f"{ident.get('system', '')}|{ident.get('value')}")
    name = ((practitioner or {}).get("name") or [{}])[0]
    return name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip() or None


def _assessed(encounter: Resource) -> set[str]:
    """The ready-for-discharge criteria the physician assessed *and documented* (a text is required)."""
    out = set()
    for ext in encounter.get("extension") or ():
        concept = ext.get("valueCodeableConcept") or {}
        if ext.get("url") == codes.EXT_READY_ASSESSMENT and concept.get("text"):
            out |= {
                c.get("code")
                for c in concept.get("coding") or ()
                if c.get("system") == codes.READY_ASSESSMENT
            }
    return out


def _apply(state: StayState, row: StayEventRow) -> None:
    code, at, resources = row.event_code, row.event_time, row.resources
    state.last_event_seq = max(state.last_event_seq, row.inbound_seq)
    if code == READY_ANSWER:
        state.ready_answers.append(_ready_answer(at, resources))
        return
    if code == DIALOG_NOTE:  # on the timeline; it does not move the stay
        return
    if code == "A11":  # cancel admit
        state.status, state.admitted_at = "admission-cancelled", None
        return
    if code == "A13":  # cancel discharge
        state.discharged_at = state.died_at = None
        state.status = "ready" if state.current_ready else "admitted"
        return
    if code == "A25":  # cancel pending discharge = avmelding
        if (episode := state.current_ready) is not None:
            episode.cancelled_at, episode.cancel_key = at, str(row.inbound_seq)
        if state.status == "ready":
            state.status = "admitted"
        return
    if code == "T02":
        # a document describes the stay, it does not move it: the Patient and Encounter it carries
        # only link it, so a sparse PV1 in an MDM cannot rewrite the ward the notices name
        _absorb_resources(
            state, [r for r in resources if r.get("resourceType") not in ("Patient", "Encounter")]
        )
    else:
        _absorb_resources(state, resources)
    start = ((state.encounter or {}).get("period") or {}).get("start")
    if (code == "A01" and state.status in ("new", "admission-cancelled")) or (
        code in ("A02", "A08", "A16", "A21", "A22", "A03") and state.status == "new"
    ):
        # an A01 (re)admits; any other stay event for an unknown stay means the A01 is late or lost
        state.status = "admitted"
        state.admitted_at = _utc(start) or at
    if code == "A16":
        ready = _ext(state.encounter or {}, codes.EXT_READY)
        decided = _ext(state.encounter or {}, codes.EXT_READY_DECIDED_BY)
        decided_ref = None
        if decided and isinstance(decided.get("valueReference"), dict):
            ref = decided["valueReference"]
            decided_ref = (ref.get("identifier") or {}).get("value") or ref.get("reference")
        when = _utc((ready or {}).get("valueDateTime")) or at
        if (episode := state.current_ready) is not None:
            episode.ready_at, episode.decided_by = when, decided_ref or episode.decided_by
        else:
            episode = ReadyEpisode(str(row.inbound_seq), when, decided_ref)
            state.ready.append(episode)
        episode.declared = episode.declared or bool((ready or {}).get("valueDateTime"))
        episode.decided_by_name = _decider_name(state, decided) or episode.decided_by_name
        episode.assessed = sorted(set(episode.assessed) | _assessed(state.encounter or {}))
        if state.status in ("admitted", "on-leave"):
            state.status = "ready"
    elif code == "A21":
        state.leave.append({"start": at, "end": None})
        state.status = "on-leave"
    elif code == "A22":
        if state.leave and state.leave[-1]["end"] is None:
            state.leave[-1]["end"] = at
        state.status = "ready" if state.current_ready else "admitted"
    elif code == "A03":
        state.discharged_at = at
        died = (state.discharge_disposition or "").lower() in DIED_CODES or bool(
            (state.patient or {}).get("deceasedBoolean") or (state.patient or {}).get("deceasedDateTime")
        )
        state.status = "died" if died else "discharged"
        state.died_at = at if died else None
    elif code == "T02":
        composition = next(r for r in resources if r.get("resourceType") == "Composition")
        doc_id = composition["identifier"]["value"]
        state.documents[doc_id] = Document(
            doc_id,
            _document_kind(composition),
            composition.get("status", "final"),
            at,
            row.inbound_seq,
            [composition] + [r for r in resources if r is not composition],
        )


def _ready_answer(at: str, resources: list[Resource]) -> dict[str, str | None]:
    """The answer as stored by the KITH intake: a Communication with the ready-answer extension."""
    comm = resources[0] if resources else {}
    answer = _ext(comm, EXT_READY_ANSWER) or {}
    parts = {e.get("url"): e for e in answer.get("extension") or ()}
    return {
        "at": at,
        "received": comm.get("received"),
        "can_receive": (parts.get("canReceive") or {}).get("valueCode", "unclear"),
        "from": (parts.get("from") or {}).get("valueDate"),
        "answers": (_ext(comm, EXT_ANSWERS_MESSAGE) or {}).get("valueString"),
        "message_id": ((comm.get("identifier") or [{}])[0].get("value") or "").removeprefix("urn:uuid:")
        or None,
    }


def fold(events: list[StayEventRow]) -> StayState:
    state = StayState()
    for row in sorted(events, key=lambda e: (e.event_time, e.inbound_seq)):
        _apply(state, row)
    return state


def person_of(state: StayState) -> tuple[str, str] | None:
    return first_identifier(state.patient, codes.PERSON_ID_SYSTEMS) if state.patient else None
