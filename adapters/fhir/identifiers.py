"""Norwegian person identifiers (HIS 1001): which kind a number is, and whether it is valid.

The mod-11 arithmetic is python-stdnum's; this module only adds the FHIR systems.
"""

from __future__ import annotations

from stdnum.exceptions import ValidationError
from stdnum.no import fodselsnummer

from adapters.fhir import codes


def person_id_kind(number: str) -> str:
    """The FHIR system a valid person number belongs to (D-nummer: first digit + 4; H: month + 40)."""
    if int(number[0]) >= 4:
        return codes.DNR
    if int(number[2]) >= 4:
        return codes.HNR
    return codes.FNR


def check_person_id(number: str) -> str | None:
    """None when the number is a valid fødselsnummer/D-/H-nummer, else a reason free of the number."""
    if len(number) != 11 or not number.isdigit():
        return "must be 11 digits"
    try:
        fodselsnummer.validate(number)
    except ValidationError as exc:
        return f"check digits or birth date do not hold ({type(exc).__name__})"
    return None
