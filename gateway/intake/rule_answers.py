"""Failed handover rules in the sender's answer: OperationOutcome issues (FHIR) and ERR segments (HL7 v2).

Each names the rule id, its severity, the element and the source; the texts come from the rule
packs, so no patient data reaches the answer.
"""

from __future__ import annotations

from typing import Any

from adapters.fhir import codes
from adapters.hl7v2.ack import Header, RuleFailure, build_ack
from gateway.pipeline.processor import Outcome
from gateway.rules.model import Finding

OUTCOME_TEXT = {
    "held": "the document is held until it is complete",
    "flagged": "the message was sent, flagged with this rule",
    "recorded": "recorded",
}


def rule_issue(f: Finding) -> dict[str, Any]:
    return {
        "severity": f.severity,
        "code": "business-rule",
        "details": {"coding": [{"system": codes.GW_RULE, "code": f.rule_id, "display": f.title}]},
        "diagnostics": f"rule {f.rule_id} ({f.severity}) failed for {f.subject}: {f.title}. "
        f"Source: {f.source}. {OUTCOME_TEXT[f.outcome]}.",
        "expression": [f.path],
    }


def rules_ack(header: Header, outcome: Outcome, control_id: str) -> bytes:
    """AA when every rule passed or only warnings failed; AE (the event is stored) on an error."""
    failures = [RuleFailure(f.rule_id, f.title, f.severity, f.path, f.source) for f in outcome.findings]
    errors = [f for f in outcome.findings if f.severity == "error"]
    held = any(f.outcome == "held" for f in outcome.findings)
    text = ""
    if failures:
        text = f"accepted; {len(errors)} rule error(s), {len(failures) - len(errors)} other finding(s)"
        text += "; document held" if held else ""
    code = "AE" if errors else "AA"
    return build_ack(header, code, text=text, control_id=control_id, rules=failures) or b""
