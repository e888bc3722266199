"""One table from a problem's kind to its answer on every channel.

    Problem.kind  →  HTTP status, OperationOutcome issue code, HL7 ERR code (table 0357),
                     HL7 acknowledgement code, AppRec error code (code list 8221)

Adapters report problems (adapters/problems.py); only this module decides how each is spoken.
"""

from __future__ import annotations

from typing import NamedTuple


class Answer(NamedTuple):
    http: int
    issue: str  # OperationOutcome.issue.code (FHIR IssueType)
    hl7: str  # HL7 table 0357
    ack: str  # AE = their content, AR = refused / our trouble
    apprec: str  # code list 8221


ANSWERS: dict[str, Answer] = {
    "syntax": Answer(400, "structure", "102", "AE", "T01"),
    "structure": Answer(422, "structure", "102", "AE", "T02"),
    "required": Answer(422, "required", "101", "AE", "E36"),
    "invalid": Answer(422, "value", "102", "AE", "E36"),
    "unsupported": Answer(422, "not-supported", "200", "AR", "T10"),
    "not-found": Answer(422, "not-found", "204", "AE", "E21"),
    "too-large": Answer(413, "too-long", "207", "AR", "X99"),
    "business-rule": Answer(422, "business-rule", "207", "AE", "X99"),
    "transient": Answer(503, "transient", "207", "AR", "X99"),
    # a DOCTYPE, entity declarations: refused before anything is expanded or fetched
    "unsafe": Answer(400, "security", "102", "AR", "T01"),
    # a message id that is not a UUID (HIS 80415: E10)
    "bad-id": Answer(422, "value", "102", "AE", "E10"),
    "forbidden": Answer(403, "forbidden", "207", "AR", "X99"),  # the caller may not send for this sender
    # processing failed on our side after the message was stored (the inbox, gateway/intake/inbox.py)
    "internal": Answer(500, "exception", "207", "AR", "X99"),
}


def answer_for(kind: str) -> Answer:
    return ANSWERS.get(kind, ANSWERS["business-rule"])


def http_for_apprec(code: str) -> int:
    """The HTTP status of the first kind that answers with this AppRec code (for a stored AppRec)."""
    return next((a.http for a in ANSWERS.values() if a.apprec == code), ANSWERS["business-rule"].http)
