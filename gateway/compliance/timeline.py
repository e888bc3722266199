"""A stay's timeline: what happened and what was sent, in time order, each entry with its source.

Derived from one read (gateway/store: StayRecord): the stay events (clinical time; source = the
inbound message id and seq), the outbound messages (when the gateway committed them) and their
receipts, plus what the deadline watcher recorded. Held messages come from the rules' verdict
cached on the stay (gateway/rules/gate.py); the rules record no hold time, so they are listed
at the stay's last update.
"""

from __future__ import annotations

from typing import Any

from gateway.pipeline.stay import READY_ANSWER, StayState
from gateway.store.base import ComplianceItem, StayRecord

KINDS = {
    "A01": "admission",
    "A02": "transfer",
    "A03": "discharge",
    "A08": "update",
    "A11": "admission-cancelled",
    "A13": "discharge-cancelled",
    "A16": "ready-for-discharge",
    "A25": "ready-cancelled",
    "A21": "leave-start",
    "A22": "leave-end",
    "T02": "document",
    READY_ANSWER: "municipality-answer",
    "DIALOG": "municipality-note",
}


def timeline(record: StayRecord, state: StayState, items: list[ComplianceItem]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    answers = {a.get("message_id"): a for a in state.ready_answers}
    docs = {d.inbound_seq: d for d in state.documents.values()}
    for e in record.events:
        kind = KINDS.get(e.event_code, "event")
        if e.event_code == "A03" and state.died_at and state.died_at == e.event_time:
            kind = "death"
        # KITH documents are keyed "kith:<MsgId>" in the inbound table; the source names the MsgId
        stored = record.inbound_ids.get(e.inbound_seq) or ""
        channel = "kith" if stored.startswith("kith:") else "epj"
        source_id = stored.removeprefix("kith:")
        entry: dict[str, Any] = {
            "time": e.event_time,
            "kind": kind,
            "code": e.event_code,
            "source": {"channel": channel, "inboundMessageId": source_id, "inboundSeq": e.inbound_seq},
        }
        if e.event_code == READY_ANSWER:
            a = answers.get(source_id) or {}
            entry["answer"] = {k: a.get(k) for k in ("can_receive", "from", "answers", "received")}
        if e.event_code == "T02" and (doc := docs.get(e.inbound_seq)) is not None:
            entry["document"] = {"id": doc.doc_id, "kind": doc.kind, "status": doc.status}
        entries.append(entry)
    for o in record.outbound:
        entries.append(
            {
                "time": o.created_at,
                "kind": "message-sent" if o.status != "held" else "message-held",
                "code": o.message_type,
                "messageId": o.message_id,
                "dispatchStatus": o.dispatch_status,
                "recipient": o.recipient_her,
                "recipientKind": o.recipient_kind,
                "conversationId": o.conversation_id,
                "source": {"inboundSeq": o.source_inbound_seq},
            }
        )
        for r in record.receipts.get(o.message_id, []):
            entries.append(
                {
                    "time": r["received"],
                    "kind": "receipt",
                    "code": r["status"],
                    "messageId": o.message_id,
                    "format": r["format"],
                    "errors": r["errors"],
                    "source": {"receiptFor": o.message_id, "sender": r["sender"]},
                }
            )
    for h in record.stay.state.get("held") or ():
        entries.append(
            {
                "time": record.stay.updated_at,
                "kind": "message-held",
                "code": h.get("messageType"),
                "notice": h.get("notice"),
                "reasons": [r.get("ruleId") for r in h.get("reasons") or ()],
                "source": {"rules": "gateway/rules/gate.py"},
            }
        )
    for it in items:
        entries.append(
            {
                "time": it.due_at,
                "kind": "deadline-missed" if it.kind == "overdue" else "held-escalated",
                "code": it.rule_id,
                "episode": it.episode,
                "messageType": it.message_type,
                "closedAt": it.closed_at,
                "source": {"watcher": it.opened_at},
            }
        )
    order = {"admission": 0, "document": 1}
    entries.sort(key=lambda x: (str(x["time"]), order.get(x["kind"], 2)))
    return entries
