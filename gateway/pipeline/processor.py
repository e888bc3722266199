"""One accepted event, end to end, as one unit of work inside one store transaction:

    dedupe → record → fold the stay → route → desired notices → plan N/M/C → build → outbox

The caller's answer (FHIR response, HL7 ACK) is rendered inside the same transaction and kept
with the inbound row, so a duplicate gets byte-for-byte the same answer and no second processing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from adapters.fhir import codes
from adapters.problems import Problem
from gateway.directory.base import Directory, Fastlegeregister
from gateway.ids import new_id
from gateway.pipeline.events import InboundEvent
from gateway.pipeline.ledger import Action, plan
from gateway.pipeline.notices import desired_notices
from gateway.pipeline.outbound import Envelope, build_bundle
from gateway.pipeline.routing import Recipients, route
from gateway.pipeline.stay import StayState, fold, person_of
from gateway.privacy import Pseudonymizer
from gateway.rules.gate import gate
from gateway.rules.model import Finding
from gateway.rules.packs import RuleBook
from gateway.store.base import NewOutbound, StayEventRow, StayRow, Tx


@dataclass(frozen=True, slots=True)
class Produced:
    message_id: str
    message_type: str
    dispatch_status: str
    recipient_her: str
    recipient_kind: str


@dataclass(slots=True)
class Outcome:
    message_id: str
    event_code: str
    duplicate: bool = False
    response: bytes | None = None
    stay_id: int | None = None
    stay_status: str | None = None
    produced: list[Produced] = field(default_factory=list)
    gaps: list[Problem] = field(default_factory=list)
    deliveries: int = 0  # push deliveries queued by this event
    findings: list[Finding] = field(default_factory=list)  # failed handover rules (docs/RULES.md)


@dataclass(frozen=True, slots=True)
class Received:
    """An inbound message as it came in, before processing."""

    channel: str
    body: bytes
    received_at: str

    @property
    def body_hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


Responder = Callable[[Outcome], bytes]


def _duplicate(tx: Tx, message_id: str, event_code: str) -> Outcome:
    """A message id already stored: its answer again, byte for byte, and no second processing."""
    existing = tx.find_inbound(message_id)
    assert existing is not None  # the insert just found it
    return Outcome(message_id, event_code, duplicate=True, response=existing.response)


class Pipeline:
    """Builds units of work; the time is the event's arrival time, so a unit is repeatable."""

    def __init__(
        self,
        directory: Directory,
        register: Fastlegeregister,
        pseudonym: Pseudonymizer,
        rules: RuleBook | None = None,
    ) -> None:
        self.directory = directory
        self.register = register
        self.pseudonym = pseudonym
        self.rules = rules or RuleBook()

    def unit(self, event: InboundEvent, received: Received, respond: Responder) -> Callable[[Tx], Outcome]:
        def run(tx: Tx) -> Outcome:
            seq = tx.insert_inbound(
                event.message_id,
                received.channel,
                event.event_code,
                received.received_at,
                received.body_hash,
                received.body,
                "accepted",
            )
            if seq is None:
                return _duplicate(tx, event.message_id, event.event_code)
            outcome = self.process(tx, event, seq, received.received_at, respond)
            tx.finish_inbound(seq, "processed", outcome.response or b"")
            return outcome

        return run

    @staticmethod
    def accept(
        message_id: str, event_code: str, received: Received, answer: bytes
    ) -> Callable[[Tx], Outcome]:
        """Record a message to be processed later (the HL7 v2 inbox, gateway/intake/inbox.py):
        dedupe and the durable inbound row only; `answer` is what a duplicate gets again."""

        def run(tx: Tx) -> Outcome:
            seq = tx.insert_inbound(
                message_id,
                received.channel,
                event_code,
                received.received_at,
                received.body_hash,
                received.body,
                "accepted",
                answer,
            )
            if seq is None:
                return _duplicate(tx, message_id, event_code)
            return Outcome(message_id, event_code, response=answer)

        return run

    def process(self, tx: Tx, event: InboundEvent, seq: int, now: str, respond: Responder) -> Outcome:
        """The recorded inbound row `seq` applied: stays, notices, rules, outbox; then the answer."""
        outcome = Outcome(event.message_id, event.event_code)
        for stay, created in self._stays_for(tx, event, now):
            tx.add_stay_event(stay.stay_id, seq, event.event_code, event.event_time, event.resources)
            self._refresh(tx, stay, created, event, seq, outcome, now)
        outcome.response = respond(outcome)
        return outcome

    def _stays_for(self, tx: Tx, event: InboundEvent, now: str) -> list[tuple[StayRow, bool]]:
        """The stays the event applies to, each with whether this unit created it."""
        person_ref = self.pseudonym(event.person[1]) if event.person else "unknown"
        if event.stay_key is None:  # A40 without a visit: the merge applies to the prior patient's stays
            stays = []
            for prior in _merged_person_ids(event):
                for stay in tx.stays_of_patient(self.pseudonym(prior)):
                    tx.set_stay_patient(stay.stay_id, person_ref)
                    stays.append((stay, False))
            return stays
        stay = tx.get_stay(event.stay_key)
        if stay is None:
            return [(tx.create_stay(event.stay_key, person_ref, now), True)]
        return [(stay, False)]

    def _refresh(
        self,
        tx: Tx,
        stay: StayRow,
        created: bool,
        event: InboundEvent,
        seq: int,
        outcome: Outcome,
        now: str,
    ) -> None:
        # a stay made by this very unit has only this event and no messages: nothing to read back
        events = (
            [StayEventRow(seq, event.event_code, event.event_time, event.resources)]
            if created
            else tx.stay_events(stay.stay_id)
        )
        state = fold(events)
        to = route(state, event.sender_her, self.directory, self.register)
        history = [] if created else tx.stay_outbound(stay.stay_id)
        desired = desired_notices(
            state,
            to,
            gp_notices=self.directory.setting("gp_admission_notice", True),
            report_copy_to_gp=self.directory.setting("utskrivningsrapport_copy_to_gp"),
            sent=frozenset(row.notice_key for row in history),
        )
        # the rules hold incomplete documents back (not planned = still desired, sent once complete)
        checked = gate(self.rules.current, plan(desired, history), state, to, event.event_code)
        rows = [self._realise(tx, action, state, to, now) for action in checked.actions]
        person = person_of(state)
        patient_ref = self.pseudonym(person[1]) if person else stay.patient_ref
        if patient_ref != stay.patient_ref:
            tx.set_stay_patient(stay.stay_id, patient_ref)
        tx.update_stay(stay.stay_id, state.status, {**state.summary(), **checked.summary()}, now)
        # last: on PostgreSQL a recipient's feed is held from here to COMMIT (docs/POSTGRESQL.md)
        tx.insert_outbound(stay.stay_id, seq, now, rows)
        # in order per patient, to each push subscriber
        outcome.deliveries += tx.enqueue_deliveries(rows, patient_ref, now)
        outcome.stay_id, outcome.stay_status = stay.stay_id, state.status
        outcome.gaps = to.gaps
        outcome.findings += checked.findings
        outcome.produced += [
            Produced(r.message_id, r.message_type, r.dispatch_status, r.recipient_her, r.recipient_kind)
            for r in rows
        ]

    def _realise(self, tx: Tx, action: Action, state: StayState, to: Recipients, now: str) -> NewOutbound:
        message_id = new_id()
        prev = action.previous
        env = Envelope(
            message_id,
            prev.conversation_id if prev else message_id,
            prev.message_id if prev else None,
            action.dispatch_status,
            now,
        )
        if action.notice is not None:
            notice = action.notice
            payload = orjson.dumps(build_bundle(notice, env, state, to))
            return NewOutbound(
                message_id,
                env.conversation_id,
                env.parent_id,
                notice.key,
                notice.message_type,
                "N" if prev is None else action.dispatch_status,
                notice.recipient.her_id,
                notice.recipient.kind,
                notice.fingerprint,
                "ready",
                payload,
            )
        assert prev is not None
        return NewOutbound(
            message_id,
            env.conversation_id,
            env.parent_id,
            prev.notice_key,
            prev.message_type,
            "C",
            prev.recipient_her,
            prev.recipient_kind,
            "cancelled",
            "ready",
            _as_cancel(tx.outbound_payload(prev.message_id) or b"{}", env),
        )


def _merged_person_ids(event: InboundEvent) -> list[str]:
    ids = []
    for res in event.resources:
        if res.get("resourceType") != "Patient":
            continue
        for link in res.get("link") or ():
            ident = (link.get("other") or {}).get("identifier") or {}
            if ident.get("system") in codes.PERSON_ID_SYSTEMS and ident.get("value"):
                ids.append(str(ident["value"]))
    return ids


def _as_cancel(previous: bytes, env: Envelope) -> bytes:
    """The cancel (C) repeats the cancelled message's content under a new id (HISD 1154)."""
    bundle = orjson.loads(previous)
    bundle["id"], bundle["timestamp"] = env.message_id, env.timestamp
    header = bundle["entry"][0]["resource"]
    header["id"] = env.message_id
    bundle["entry"][0]["fullUrl"] = f"urn:uuid:{env.message_id}"
    keep = [
        e
        for e in header.get("extension") or ()
        if e.get("url") not in (codes.EXT_CONVERSATION_REF, codes.EXT_PARENT_REF, codes.EXT_DISPATCH_STATUS)
    ]
    header["extension"] = [
        {"url": codes.EXT_CONVERSATION_REF, "valueString": env.conversation_id},
        {"url": codes.EXT_PARENT_REF, "valueString": env.parent_id},
        {"url": codes.EXT_DISPATCH_STATUS, "valueCode": "C"},
        *keep,
    ]
    return orjson.dumps(bundle)
