"""FHIR messaging answers: a response Bundle whose MessageHeader.response says ok / fatal / transient,
with an OperationOutcome naming every problem (and, on ok, every message produced)."""

from __future__ import annotations

from typing import Any

import orjson

from adapters.problems import Problem
from gateway.errors import answer_for
from gateway.ids import new_id
from gateway.intake.rule_answers import rule_issue
from gateway.pipeline.processor import Outcome

Resource = dict[str, Any]
GATEWAY_ENDPOINT = "urn:discharge-gateway"


def _issue(p: Problem) -> Resource:
    return {
        "severity": "fatal" if p.severity == "error" and p.kind == "syntax" else p.severity,
        "code": answer_for(p.kind).issue,
        "diagnostics": p.text,
        "expression": [p.location],
    }


def operation_outcome(problems: list[Problem]) -> Resource:
    return {
        "resourceType": "OperationOutcome",
        "issue": [_issue(p) for p in problems]
        or [{"severity": "information", "code": "informational", "diagnostics": "ok"}],
    }


def response_bundle(
    request_id: str | None, event_code: str | None, code: str, outcome: Resource, timestamp: str
) -> bytes:
    oo_url = f"urn:uuid:{new_id()}"
    header: Resource = {
        "resourceType": "MessageHeader",
        "id": new_id(),
        "eventCoding": {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0003",
            "code": event_code or "ACK",
        },
        "source": {"endpoint": GATEWAY_ENDPOINT},
        "response": {"identifier": request_id or "unknown", "code": code, "details": {"reference": oo_url}},
    }
    bundle = {
        "resourceType": "Bundle",
        "id": new_id(),
        "type": "message",
        "timestamp": timestamp,
        "entry": [
            {"fullUrl": f"urn:uuid:{header['id']}", "resource": header},
            {"fullUrl": oo_url, "resource": outcome},
        ],
    }
    return orjson.dumps(bundle)


def ok_response(outcome: Outcome, timestamp: str) -> bytes:
    issues: list[Resource] = [
        {
            "severity": "information",
            "code": "informational",
            "diagnostics": f"accepted; stay status {outcome.stay_status or 'unchanged'}",
        }
    ]
    issues += [_issue(g) for g in outcome.gaps]
    issues += [
        {
            "severity": "information",
            "code": "informational",
            "diagnostics": f"{p.message_type} {p.dispatch_status} to HER {p.recipient_her} "
            f"({p.recipient_kind}) as message {p.message_id}",
        }
        for p in outcome.produced
    ]
    issues += [rule_issue(f) for f in outcome.findings]
    return response_bundle(
        outcome.message_id,
        outcome.event_code,
        "ok",
        {"resourceType": "OperationOutcome", "issue": issues},
        timestamp,
    )


def accepted_for_later(message_id: str) -> bytes:
    """The 202 body of an event stored to be processed after the answer (`Prefer: respond-async`)."""
    return orjson.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": f"message {message_id} stored; it is processed after this answer, "
                    "and the response Bundle is at the Content-Location",
                }
            ],
        }
    )
