"""Who must be told: the patient's municipality services and GP, and who is telling them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.fhir import codes
from adapters.problems import Problem
from gateway.directory.base import Directory, Fastlegeregister, Party
from gateway.pipeline.stay import StayState, person_of

Resource = dict[str, Any]


@dataclass(slots=True)
class Recipients:
    sender: Party
    department: Party | None
    nursing: Party | None
    allocation: Party | None
    gp: Party | None
    municipality_number: str | None
    gaps: list[Problem] = field(default_factory=list)


def municipality_number(patient: Resource | None) -> str | None:
    """Kommunenummer where the patient stays: a temporary address wins over the home address."""
    addresses = sorted((patient or {}).get("address") or (), key=lambda a: a.get("use") != "temp")
    for address in addresses:
        for ext in address.get("extension") or ():
            if ext.get("url") != codes.NO_BASIS_PROPERTY:
                continue
            for sub in ext.get("extension") or ():
                code = (sub.get("valueCoding") or {}).get("code")
                if sub.get("url") == "municipality" and code:
                    return str(code)
    return None


def _gp(
    patient: Resource | None, person: tuple[str, str] | None, directory: Directory, register: Fastlegeregister
) -> Party | None:
    for ref in (patient or {}).get("generalPractitioner") or ():
        ident = ref.get("identifier") or {}
        value = ident.get("value")
        if not value:
            continue
        if ident.get("system") == codes.HER and (gp := directory.gp_by_her(value)):
            return gp
        if ident.get("system") == codes.HPR and (gp := directory.gp_by_hpr(value)):
            return gp
    return register.gp_for_person(person[1]) if person else None


def route(
    state: StayState, sender_her: str | None, directory: Directory, register: Fastlegeregister
) -> Recipients:
    gaps: list[Problem] = []
    sender = directory.institution(sender_her) if sender_her else None
    department = None
    provider = (state.encounter or {}).get("serviceProvider") or {}
    provider_her = (provider.get("identifier") or {}).get("value")
    if provider_her and (party := directory.institution(provider_her)):
        if party.kind == "department":
            department = party
            sender = sender or directory.institution(party.parent_her or "")
        else:
            sender = sender or party
    if sender is None:
        sender = directory.default_institution()
    number = municipality_number(state.patient)
    nursing = allocation = None
    if number is None:
        gaps.append(
            Problem(
                "Patient.address",
                "not-found",
                "no municipality code on the patient's address; no municipality can be notified",
                "warning",
            )
        )
    elif (municipality := directory.municipality(number)) is None:
        gaps.append(
            Problem(
                "Patient.address",
                "not-found",
                f"municipality {number} is not in the directory; no municipality can be notified",
                "warning",
            )
        )
    else:
        nursing, allocation = municipality.nursing, municipality.allocation
        if nursing is None or allocation is None:
            gaps.append(
                Problem(
                    "Patient.address",
                    "not-found",
                    f"municipality {number} lacks a nursing or allocation service in the directory",
                    "warning",
                )
            )
    gp = _gp(state.patient, person_of(state), directory, register)
    if gp is None:
        gaps.append(
            Problem(
                "Patient.generalPractitioner",
                "not-found",
                "no GP found (neither on the patient nor in the fastlegeregister)",
                "warning",
            )
        )
    return Recipients(sender, department, nursing, allocation, gp, number, gaps)
