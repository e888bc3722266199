"""The rules at work in the pipeline: check what a unit of work is about to send, hold what is incomplete.

`gate` takes the planned actions (pipeline/ledger.py) and returns the ones that may go now. A
document (UTSKRIVNINGSRAPPORT, EPIKRISE) failing an error-level rule is held: its action is
dropped, so it stays "desired but not sent" and the next event that completes it lets the plan
send it, with no separate release step. Everything else goes out, its failed rules tagged on the
message. Only rules whose applies_to names the event or the message type are run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from gateway.pipeline.ledger import Action
from gateway.pipeline.routing import Recipients
from gateway.pipeline.stay import StayState
from gateway.rules.context import StayContext
from gateway.rules.fhirpath import truthy
from gateway.rules.model import HOLDABLE, Finding, Rule, RuleSet

log = structlog.get_logger("rules")


@dataclass(slots=True)
class Checked:
    actions: list[Action]
    findings: list[Finding] = field(default_factory=list)
    held: dict[str, list[Finding]] = field(default_factory=dict)  # notice key → the findings that hold it
    evaluated: int = 0  # rule evaluations run (each rule once per distinct input)

    def summary(self) -> dict[str, Any]:
        """What the stay view shows: held messages with reasons, and every failed rule of this check."""
        return {
            "held": [
                {
                    "notice": key,
                    "messageType": key.split(":")[0].split("|")[0],
                    "reasons": [_public(f) for f in findings],
                }
                for key, findings in self.held.items()
            ],
            "ruleFindings": [_public(f) for f in self.findings],
        }


def _public(f: Finding) -> dict[str, str]:
    return {
        "ruleId": f.rule_id,
        "severity": f.severity,
        "title": f.title,
        "path": f.path,
        "source": f.source,
        "subject": f.subject,
        "outcome": f.outcome,
    }


def recipient_map(to: Recipients) -> dict[str, str]:
    return {
        kind: party.her_id
        for kind, party in (("nursing", to.nursing), ("allocation", to.allocation), ("gp", to.gp))
        if party is not None
    }


def _fails(rule: Rule, root: Any, env: dict[str, Any]) -> bool:
    try:
        if rule.compiled_when is not None and not truthy(rule.compiled_when(root, env)):
            return False
        assert rule.compiled_check is not None
        return not truthy(rule.compiled_check(root, env))
    except Exception as exc:  # a rule that cannot run on this data fails: it proved nothing
        log.warning("rule_not_evaluated", rule=rule.id, error=type(exc).__name__)
        return True


class _Evaluator:
    """Runs each rule once per distinct input: a rule reading only stay variables has one answer for
    every message of the check, one reading a document has one per document (not per recipient)."""

    def __init__(self, ctx: StayContext) -> None:
        self.ctx = ctx
        self.results: dict[tuple[str, int | None, str | None], bool] = {}

    def fails(self, rule: Rule, recipient_kind: str | None, resources: list[Any] | None) -> bool:
        key = (
            rule.id,
            id(resources) if rule.per_document else None,
            recipient_kind if rule.per_recipient else None,
        )
        result = self.results.get(key)
        if result is None:
            env = self.ctx.environment(rule.variables, recipient_kind, resources)
            result = self.results[key] = _fails(rule, self.ctx.root, env)
        return result


def _finding(rule: Rule, subject: str, outcome: str) -> Finding:
    return Finding(rule.id, rule.severity, rule.title["en"], rule.path, rule.source_text, subject, outcome)


def gate(rules: RuleSet, actions: list[Action], state: StayState, to: Recipients, event_code: str) -> Checked:
    """The actions that may be carried out now, and every failed rule (held, flagged or recorded)."""
    checked = Checked([])
    if not rules.rules:
        checked.actions = actions
        return checked
    run = _Evaluator(StayContext(state, recipient_map(to), event_code))
    for rule in rules.by_event.get(event_code, ()):
        if run.fails(rule, None, None):
            checked.findings.append(_finding(rule, f"event {event_code}", "recorded"))
    seen: set[tuple[str, str]] = set()
    for action in actions:
        notice = action.notice
        candidates = rules.by_message.get(notice.message_type, ()) if notice is not None else ()
        if notice is None or not candidates:
            checked.actions.append(action)
            continue
        kind = notice.recipient.kind
        resources = notice.resources if notice.focus in ("composition", "list") else None
        failed = [
            r
            for r in candidates
            if (not r.recipients or kind in r.recipients) and run.fails(r, kind, resources)
        ]
        hold = notice.message_type in HOLDABLE and any(r.severity == "error" for r in failed)
        subject = notice.key.split("|")[0]
        findings = [_finding(r, subject, "held" if hold else "flagged") for r in failed]
        for f in findings:
            if (f.rule_id, subject) not in seen:
                seen.add((f.rule_id, subject))
                checked.findings.append(f)
        if hold:
            checked.held[notice.key] = findings
            continue
        notice.rule_flags = [(r.id, r.severity) for r in failed]
        checked.actions.append(action)
    checked.evaluated = len(run.results)
    return checked
