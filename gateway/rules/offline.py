"""Checking events without a gateway: the same fold, routing, notices, plan and gate as the
pipeline, on in-memory stays with an in-memory ledger. Used by `gateway validate`, the tests and
the benchmark; nothing is stored or sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.directory.base import Directory, Fastlegeregister
from gateway.pipeline.events import InboundEvent
from gateway.pipeline.ledger import plan
from gateway.pipeline.notices import desired_notices
from gateway.pipeline.routing import route
from gateway.pipeline.stay import fold
from gateway.rules.gate import Checked, gate
from gateway.rules.model import RuleSet
from gateway.store.base import OutboundRow, StayEventRow


@dataclass
class OfflineStays:
    """Events in the order given; each stay is folded afresh after each, as the pipeline does."""

    rules: RuleSet
    directory: Directory
    register: Fastlegeregister
    events: dict[str, list[StayEventRow]] = field(default_factory=dict)
    ledger: dict[str, list[OutboundRow]] = field(default_factory=dict)

    def check(self, event: InboundEvent) -> Checked:
        key = event.stay_key or event.message_id
        rows = self.events.setdefault(key, [])
        rows.append(StayEventRow(len(rows) + 1, event.event_code, event.event_time, event.resources))
        state = fold(rows)
        to = route(state, event.sender_her, self.directory, self.register)
        sent = self.ledger.setdefault(key, [])
        desired = desired_notices(
            state,
            to,
            gp_notices=bool(self.directory.setting("gp_admission_notice", True)),
            report_copy_to_gp=bool(self.directory.setting("utskrivningsrapport_copy_to_gp")),
            sent=frozenset(r.notice_key for r in sent),
        )
        checked = gate(self.rules, plan(desired, sent), state, to, event.event_code)
        for action in checked.actions:  # what the pipeline would have put in the outbox
            notice, prev = action.notice, action.previous
            sent.append(
                OutboundRow(
                    seq=len(sent) + 1,
                    message_id=f"offline-{len(sent) + 1}",
                    conversation_id=prev.conversation_id if prev else f"offline-{len(sent) + 1}",
                    parent_id=prev.message_id if prev else None,
                    notice_key=action.key,
                    stay_id=0,
                    message_type=notice.message_type if notice else prev.message_type,  # type: ignore[union-attr]
                    dispatch_status=action.dispatch_status,
                    recipient_her=notice.recipient.her_id if notice else prev.recipient_her,  # type: ignore[union-attr]
                    recipient_kind=notice.recipient.kind if notice else prev.recipient_kind,  # type: ignore[union-attr]
                    fingerprint=notice.fingerprint if notice else "cancelled",
                    status="ready",
                    created_at=event.event_time,
                    source_inbound_seq=len(rows),
                )
            )
        return checked
