"""The directory as the pipeline sees it: domain questions, not tables.

The embedded implementation answers from a YAML file loaded into the store; a national
address register (Adresseregisteret) or fastlegeregister client would implement the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Party:
    """A receiver or sender: level-1 institution and, for service-based addressing, level-2 service."""

    her_id: str  # the addressable HER-id (the service, or the GP)
    name: str
    kind: str  # municipality-nursing | municipality-allocation | gp | hospital | department
    parent_her: str | None = None
    parent_name: str | None = None
    hpr: str | None = None  # for GPs
    format: str = "fhir"  # preferred wire format: fhir | kith
    municipality: str | None = None


@dataclass(frozen=True, slots=True)
class Municipality:
    number: str
    name: str
    her_id: str
    nursing: Party | None
    allocation: Party | None


class Directory(Protocol):
    def municipality(self, number: str) -> Municipality | None: ...
    def gp_by_her(self, her_id: str) -> Party | None: ...
    def gp_by_hpr(self, hpr: str) -> Party | None: ...
    def institution(self, her_id: str) -> Party | None: ...
    def default_institution(self) -> Party: ...
    def setting(self, name: str, default: bool = False) -> bool: ...
    def preferred_format(self, her_id: str) -> str | None:
        """The wire format a receiving service or GP prefers (fhir | kith); None if unknown."""
        ...


class Fastlegeregister(Protocol):
    """Who is this person's GP? (the national register, or the embedded stand-in)."""

    def gp_for_person(self, person_id: str) -> Party | None: ...
