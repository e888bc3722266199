"""Which timing rules a stay owes, per episode, and whether each was met — read from the rule pack.

A timing rule (`deadline: {after, within, expect}`, gateway/rules/model.py) is read with the rules
branch's own functions (`due_at`, `verdict`), so the watcher, the waiting days and the reports
judge a deadline exactly as the rule pack says. What "sent" means here: the gateway committed
the message to its outbox (outbound.created_at), an N or M — a cancel does not give a notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from gateway.clock import parse_fhir_datetime
from gateway.pipeline.stay import StayState
from gateway.rules.context import StayContext
from gateway.rules.deadlines import due_at, verdict
from gateway.rules.fhirpath import truthy
from gateway.rules.model import Rule, RuleSet
from gateway.store.base import OutboundRow

log = structlog.get_logger("compliance")


@dataclass(frozen=True, slots=True)
class Obligation:
    rule_id: str
    episode: str  # admission | ready:<episode key> | discharge | death | message:<message id>
    message_type: str | None  # the message expected (for `received`: the one to be answered)
    start: datetime
    due: datetime
    done_at: datetime | None  # when the message was sent, or the receipt came
    done_by: str | None  # the message id that met it (or the answered message)
    verdict: str  # met | missed | pending | void (the episode ended before it fell due, unmet)

    @property
    def late(self) -> bool:
        return self.verdict == "missed"

    def public(self) -> dict[str, Any]:
        from gateway.clock import iso

        return {
            "ruleId": self.rule_id,
            "episode": self.episode,
            "messageType": self.message_type,
            "start": iso(self.start),
            "due": iso(self.due),
            "doneAt": iso(self.done_at) if self.done_at else None,
            "doneBy": self.done_by,
            "verdict": self.verdict,
        }


def _t(text: str) -> datetime:
    return parse_fhir_datetime(text)


def sent_notices(
    outbound: list[OutboundRow], message_type: str, recipients: frozenset[str]
) -> list[OutboundRow]:
    """Notices of a type given (N or M, not held, not a cancel), to the rule's kinds of recipient."""
    return [
        o
        for o in outbound
        if o.message_type == message_type
        and o.dispatch_status in ("N", "M")
        and o.status != "held"
        and (not recipients or o.recipient_kind in recipients)
    ]


def applies(rule: Rule, ctx: StayContext) -> bool:
    """A timing rule's `when`, on the stay as it is now (e.g. the 24-hour notice only when
    municipal services are expected). A `when` that cannot run counts as applying."""
    if rule.compiled_when is None:
        return True
    env = ctx.environment(rule.variables, None, None)
    try:
        return truthy(rule.compiled_when(ctx.root, env))
    except Exception as exc:  # a rule that cannot run must not hide a deadline
        log.warning("deadline_when_not_evaluated", rule=rule.id, error=type(exc).__name__)
        return True


def _first(rows: list[OutboundRow]) -> OutboundRow | None:
    return min(rows, key=lambda o: (o.created_at, o.seq)) if rows else None


def _starts(
    rule: Rule, state: StayState, outbound: list[OutboundRow]
) -> list[tuple[str, datetime, list[OutboundRow], datetime | None]]:
    """(episode, start, the messages that may meet it, when the episode ended unmet-able)."""
    d = rule.deadline
    assert d is not None
    expected = sent_notices(outbound, d.expect_message, rule.recipients) if d.expect_message else []
    if d.after == "admitted":
        return [("admission", _t(state.admitted_at), expected, None)] if state.admitted_at else []
    if d.after == "ready":
        out = []
        for ep in state.ready:
            marker = f":{ep.key}|"
            own = [o for o in expected if marker in o.notice_key] or [
                o for o in expected if ":" not in o.notice_key.split("|")[0]
            ]
            ended = _t(ep.cancelled_at) if ep.cancelled_at else None
            out.append((f"ready:{ep.key}", _t(ep.ready_at), own, ended))
        return out
    if d.after == "discharged":
        # a death is not a discharge to the municipality: `died` rules cover it (docs/COMPLIANCE.md)
        if state.discharged_at and not state.died_at:
            return [("discharge", _t(state.discharged_at), expected, None)]
        return []
    if d.after == "died":
        return [("death", _t(state.died_at), expected, None)] if state.died_at else []
    return []


def obligations(
    rules: RuleSet,
    state: StayState,
    outbound: list[OutboundRow],
    receipts: dict[str, list[dict[str, Any]]],
    now: datetime,
) -> list[Obligation]:
    """Every timing obligation of the stay under the rules in force, judged at `now`."""
    ctx = StayContext(state, {o.recipient_kind: o.recipient_her for o in outbound}, "")  # built once, lazily
    out: list[Obligation] = []
    for rule in rules.rules:
        d = rule.deadline
        if d is None or not applies(rule, ctx):
            continue
        if d.after == "sent":
            for o in outbound:
                if o.message_type not in rule.messages or o.status == "held":
                    continue
                if rule.recipients and o.recipient_kind not in rule.recipients:
                    continue
                start = _t(o.created_at)
                got = receipts.get(o.message_id) or []
                done = min((_t(r["received"]) for r in got), default=None)
                out.append(
                    Obligation(
                        rule.id,
                        f"message:{o.message_id}",
                        o.message_type,
                        start,
                        due_at(d, start),
                        done,
                        o.message_id,
                        verdict(d, start, done, now),
                    )
                )
            continue
        for episode, start, candidates, ended in _starts(rule, state, outbound):
            first = _first(candidates)
            done = _t(first.created_at) if first else None
            due = due_at(d, start)
            v = verdict(d, start, done, now)
            if v != "met" and ended is not None and ended <= due and (done is None or done > ended):
                v = "void"  # e.g. avmelding before the day ended: no ready notice is owed any more
            out.append(
                Obligation(
                    rule.id,
                    episode,
                    d.expect_message,
                    start,
                    due,
                    done,
                    first.message_id if first else None,
                    v,
                )
            )
    return out
