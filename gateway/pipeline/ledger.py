"""Compare the notices a stay calls for with what was already sent, and say what to send now."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.pipeline.notices import Notice
from gateway.store.base import OutboundRow

# HISD 1154 §3.1: Pasientlogistikk may be sent as N (new) or C (cancel), never M. A changed logistics
# notice is therefore a cancel of what was sent and a new notice in a new conversation.
NO_CHANGE_MESSAGE = frozenset(
    {"LOG_INNLAGT", "LOG_UTSKRIVNINGSKLAR", "LOG_AVMELDING", "LOG_UTSKREVET", "LOG_DOD"}
)


@dataclass(slots=True)
class Action:
    dispatch_status: str  # N | M | C
    notice: Notice | None  # None for a cancel: the last sent message is re-issued as C
    previous: OutboundRow | None  # the last message of the conversation, if any

    @property
    def key(self) -> str:
        return self.notice.key if self.notice else self.previous.notice_key  # type: ignore[union-attr]


def plan(desired: list[Notice], sent: list[OutboundRow]) -> list[Action]:
    latest: dict[str, OutboundRow] = {}
    for row in sent:  # rows come in seq order, so the last one per key wins
        latest[row.notice_key] = row
    actions: list[Action] = []
    wanted = set()
    for notice in desired:
        wanted.add(notice.key)
        prev = latest.get(notice.key)
        if prev is None or prev.dispatch_status == "C":
            actions.append(Action("N", notice, None))  # first send, or again after a cancel: new conversation
        elif prev.fingerprint != notice.fingerprint and notice.message_type in NO_CHANGE_MESSAGE:
            actions += [Action("C", None, prev), Action("N", notice, None)]
        elif prev.fingerprint != notice.fingerprint:
            actions.append(Action("M", notice, prev))
    for key, prev in latest.items():
        if key not in wanted and prev.dispatch_status != "C":
            actions.append(Action("C", None, prev))
    return actions
