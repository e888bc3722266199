"""A problem found in an input: where, what kind, and what is wrong — never the offending value.

Every adapter reports bad input as a list of these; the gateway turns them into an
OperationOutcome, HL7 ERR segments or AppRec errors through one table (gateway/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "syntax",
    "structure",
    "required",
    "invalid",
    "unsupported",
    "not-found",
    "too-large",
    "business-rule",
    "transient",
    "unsafe",
    "bad-id",
    "forbidden",
    "internal",
]


@dataclass(frozen=True, slots=True)
class Problem:
    location: str  # FHIRPath-like path, HL7 field (PID-3) or XPath
    kind: Kind
    text: str  # what is wrong, free of patient data
    severity: Literal["error", "warning", "information"] = "error"


class InputRejected(Exception):
    """Raised by an adapter when input cannot be accepted; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.location}: {p.text}" for p in problems))
        self.problems = problems
