"""FHIR R4 message Bundles in: decode, validate once against the R4B models, check the contract.

Returns the Bundle as the plain dict it arrived as: fhir.resources validates structure and
types (at the boundary, once), and the rest of the gateway works on dicts, which are an
order of magnitude cheaper to walk than pydantic models.
"""

from __future__ import annotations

import functools
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import BaseModel, ValidationError

from adapters.fhir import codes
from adapters.fhir.identifiers import check_person_id
from adapters.fhir.json_limits import loads_bounded
from adapters.fhir.references import index_bundle, resolve
from adapters.problems import InputRejected, Problem

Resource = dict[str, Any]
MAX_PROBLEMS = 20


def _loc(parts: tuple[Any, ...]) -> str:
    out = "Bundle"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def decode_message_bundle(body: bytes) -> Resource:
    """JSON and the shape every later step relies on; cheap, so it runs on the event loop."""
    data = loads_bounded(body)
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise InputRejected([Problem("$.resourceType", "structure", "expected a Bundle resource")])
    if data.get("type") != "message":
        raise InputRejected([Problem("Bundle.type", "invalid", "Bundle.type must be 'message'")])
    entries = data.get("entry")
    if (
        not isinstance(entries, list)
        or not entries
        or not isinstance(entries[0], dict)
        or not isinstance(entries[0].get("resource"), dict)
        or entries[0]["resource"].get("resourceType") != "MessageHeader"
    ):
        raise InputRejected(
            [Problem("Bundle.entry[0]", "structure", "the first entry must be a MessageHeader")]
        )
    return data


def structure_problems(data: Resource) -> list[Problem]:
    """Types and cardinality against the R4B models: the costly step, done once per event.

    Each entry's resource is validated by its own model class, and the envelope without
    them: the same checks as Bundle.model_validate, a third cheaper, because the Bundle
    model resolves every entry's class by importing it by name on each call.
    """
    problems: list[Problem] = []
    entries = data.get("entry") or []
    envelope = {
        **data,
        "entry": [
            {k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e for e in entries
        ],
    }
    problems += _validate(Bundle, envelope, ())
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        model = _model(kind)
        if model is None:
            problems.append(
                Problem(f"Bundle.entry[{n}].resource.resourceType", "structure", "not an R4 resource type")
            )
            continue
        problems += _validate(model, resource, ("entry", n, "resource"))
    return problems[:MAX_PROBLEMS]


@functools.cache
def _model(kind: object) -> type[BaseModel] | None:
    if not isinstance(kind, str) or not kind.isalpha():
        return None
    try:
        return get_fhir_model_class(kind)
    except (KeyError, ValueError, ImportError):
        return None


def _validate(model: type[BaseModel], data: object, prefix: tuple[Any, ...]) -> list[Problem]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [
            Problem(_loc(prefix + tuple(err["loc"])), "structure", err["msg"])
            for err in exc.errors(include_input=False, include_url=False)[:MAX_PROBLEMS]
        ]
    return []


def bundle_problems(data: Resource) -> list[Problem]:
    """Everything wrong with a decoded message Bundle: structure first, then the contract."""
    if problems := structure_problems(data):
        return problems
    try:
        check_contract(data)
    except InputRejected as exc:
        return exc.problems
    return []


def bundle_problems_of_body(body: bytes) -> list[Problem]:
    """bundle_problems for a worker process: takes bytes, returns only the (small) verdict."""
    try:
        return bundle_problems(decode_message_bundle(body))
    except InputRejected as exc:
        return exc.problems


def structure_problems_of_body(body: bytes) -> list[Problem]:
    """structure_problems for a worker process, when the contract was checked already."""
    try:
        return structure_problems(decode_message_bundle(body))
    except InputRejected as exc:
        return exc.problems


def parse_message_bundle(body: bytes) -> Resource:
    """All checks in this process; raise InputRejected naming every problem."""
    data = decode_message_bundle(body)
    if problems := bundle_problems(data):
        raise InputRejected(problems)
    return data


def check_contract(bundle: Resource) -> None:
    """The gateway's own rules for an inbound Bundle (docs/FHIR-PROFILE.md), after structure."""
    header = bundle["entry"][0]["resource"]
    index = index_bundle(bundle)
    problems: list[Problem] = []
    if not header.get("id"):
        problems.append(Problem("MessageHeader.id", "required", "the message id is the deduplication key"))
    coding = header.get("eventCoding") or {}
    event = coding.get("code")
    if coding.get("system") != codes.V2_EVENT or event not in codes.INBOUND_EVENTS:
        problems.append(
            Problem(
                "MessageHeader.eventCoding",
                "unsupported",
                f"event must be one of {sorted(codes.INBOUND_EVENTS)} in {codes.V2_EVENT}",
            )
        )
    focus_refs = header.get("focus") or []
    focus = resolve(index, focus_refs[0]) if focus_refs else None
    if focus is None:
        problems.append(
            Problem("MessageHeader.focus", "required", "focus must reference an entry in the Bundle")
        )
    else:
        problems += _check_focus(event, focus, index)
    patients = [r for r in index.values() if r.get("resourceType") == "Patient"]
    if not patients:
        problems.append(Problem("Bundle.entry", "required", "a Patient entry is required"))
    for patient in {id(p): p for p in patients}.values():
        problems += _check_patient(patient)
    if problems:
        raise InputRejected(problems[:MAX_PROBLEMS])


def _check_focus(event: str | None, focus: Resource, index: dict[str, Resource]) -> list[Problem]:
    kind = focus.get("resourceType")
    if event == codes.DOCUMENT_EVENT:
        if kind != "Composition":
            return [Problem("MessageHeader.focus", "invalid", "a T02 message must focus a Composition")]
        problems = []
        if not (focus.get("identifier") or {}).get("value"):
            problems.append(
                Problem(
                    "Composition.identifier",
                    "required",
                    "the document id is needed to link changes and cancellations",
                )
            )
        loinc = {
            c.get("code")
            for c in (focus.get("type") or {}).get("coding") or ()
            if c.get("system") == codes.LOINC
        }
        if not loinc & {codes.LOINC_EPIKRISE, codes.LOINC_UTSKRIVNINGSRAPPORT}:
            problems.append(
                Problem(
                    "Composition.type",
                    "unsupported",
                    f"type must be LOINC {codes.LOINC_EPIKRISE} or {codes.LOINC_UTSKRIVNINGSRAPPORT}",
                )
            )
        encounter = resolve(index, focus.get("encounter"))
        if encounter is None:
            problems.append(
                Problem(
                    "Composition.encounter", "required", "must reference the stay's Encounter in the Bundle"
                )
            )
        else:
            problems += _check_encounter(encounter)
        return problems
    if event == "A40":
        return (
            []
            if kind in ("Patient", "Encounter")
            else [
                Problem(
                    "MessageHeader.focus", "invalid", "an A40 message must focus the Patient or Encounter"
                )
            ]
        )
    if kind != "Encounter":
        return [Problem("MessageHeader.focus", "invalid", "an ADT message must focus an Encounter")]
    return _check_encounter(focus)


def _check_encounter(encounter: Resource) -> list[Problem]:
    if any(i.get("value") for i in encounter.get("identifier") or ()):
        return []
    return [Problem("Encounter.identifier", "required", "the stay is keyed by the Encounter identifier")]


def _check_patient(patient: Resource) -> list[Problem]:
    problems = []
    found = False
    for n, ident in enumerate(patient.get("identifier") or ()):
        if ident.get("system") in codes.PERSON_ID_SYSTEMS:
            found = True
            reason = check_person_id(str(ident.get("value") or ""))
            if reason:
                problems.append(
                    Problem(
                        f"Patient.identifier[{n}].value",
                        "invalid",
                        f"not a valid Norwegian person number: {reason}",
                    )
                )
    if not found:
        problems.append(
            Problem(
                "Patient.identifier",
                "required",
                "a fødselsnummer, D-nummer or H-nummer identifier is required",
            )
        )
    return problems
