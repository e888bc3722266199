"""Checking events without a gateway: the same fold, routing, notices and gate as the pipeline,
on an in-memory stay per Encounter. Used by `gateway validate`, the tests and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.directory.base import Directory, Fastlegeregister
from gateway.pipeline.events import InboundEvent
from gateway.pipeline.ledger import plan
from gateway.pipeline.notices import desired_notices
from gateway.pipeline.routing import route
from gateway.rules.gate import Checked, gate
from gateway.rules.model import RuleSet
from gateway.store.base import StayEventRow


@dataclass
class OfflineStays:
    """Events in the order given, each stay folded afresh after each; nothing is sent or stored."""

    rules: RuleSet
    directory: Directory
    register: Fastlegeregister
    events: dict[str, list[StayEventRow]] = field(default_factory=dict)

    def check(self, event: InboundEvent) -> Checked:
        from gateway.pipeline.stay import fold  # here, so importing this module stays cheap

        rows = self.events.setdefault(event.stay_key or event.message_id, [])
        rows.append(StayEventRow(len(rows) + 1, event.event_code, event.event_time, event.resources))
        state = fold(rows)
        to = route(state, event.sender_her, self.directory, self.register)
        desired = desired_notices(
            state,
            to,
            gp_notices=bool(self.directory.setting("gp_admission_notice", True)),
            report_copy_to_gp=bool(self.directory.setting("utskrivningsrapport_copy_to_gp")),
        )
        # as if nothing were sent yet: every desired message is checked, as a first send would be
        return gate(self.rules, plan(desired, []), state, to, event.event_code)
