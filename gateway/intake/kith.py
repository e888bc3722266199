"""Inbound KITH XML from municipalities and GPs: AppRec receipts and Dialogmelding.

    body → adapters/kith/inbound.py (safe parse, root, official schemas) → one unit of work:
      AppRec       → a receipt on the message it answers (the receipts table, like FHIR acks)
      Dialogmelding → recorded; linked through RefToParent/RefToConversation to our message and so
                      to its stay, where it becomes a stay event; answered with an AppRec OK
    a rejection  → AppRec Avvist (T01/T02/T10/E10) when the sender is known, else problem details

Every inbound document's row (its own id, prefixed by kind, as the dedupe key) and the answer given
are committed before the answer leaves, so a duplicate gets the same answer and nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import structlog

from adapters.kith import safe_xml
from adapters.kith.apprec import ERRORS_8221, AppRec, ReceiptError, render_apprec
from adapters.kith.apprec import V1_0 as APPREC_V1_0
from adapters.kith.dialog import Dialog, as_communication, ready_answer
from adapters.kith.inbound import Inbound, KithRejected, read_inbound
from adapters.kith.msghead import Header, utc
from adapters.kith.xsd import KithSchemas
from adapters.problems import Problem
from gateway.clock import Clock, iso
from gateway.errors import answer_for, http_for_apprec
from gateway.ids import new_id
from gateway.metrics import Metrics
from gateway.pipeline.stay import DIALOG_NOTE, READY_ANSWER, fold
from gateway.privacy import Pseudonymizer
from gateway.store.base import OutboundRow, Store, StoreUnavailable, Tx

log = structlog.get_logger("kith")

CHANNEL = "kith"
APPREC_XML = "application/xml"
PROBLEM_JSON = "application/problem+json"
PERSON_ID_TYPES = ("FNR", "DNR", "HNR")


@dataclass(frozen=True, slots=True)
class KithReply:
    status: int
    body: bytes
    content_type: str


def problem_reply(status: int, problems: list[Problem]) -> KithReply:
    """RFC 9457 problem details naming every problem and its AppRec code, never a value."""
    first = problems[0]
    body = {
        "type": "about:blank",
        "title": "KITH document refused",
        "status": status,
        "detail": first.text,
        "errors": [
            {"location": p.location, "kind": p.kind, "apprec": answer_for(p.kind).apprec, "text": p.text}
            for p in problems
        ],
    }
    return KithReply(status, orjson.dumps(body), PROBLEM_JSON)


def _receipt_errors(problems: list[Problem]) -> list[ReceiptError]:
    """One Error per distinct code (8221), the first problem of each as the OT detail."""
    seen: dict[str, ReceiptError] = {}
    for p in problems:
        code = answer_for(p.kind).apprec
        seen.setdefault(code, ReceiptError(code, ERRORS_8221.get(code, ""), None, f"{p.location}: {p.text}"))
    return list(seen.values())


def _status_of(response: bytes) -> int:
    """The HTTP status a stored answer is given with (again, for a duplicate): 201/202 for a receipt
    recorded against a known/unknown message; for our AppRec, its first Error's code through the
    error table, 200 when it has none."""
    if response.startswith(b"{"):
        return 201 if orjson.loads(response).get("known") else 202
    first_error = safe_xml.parse(response).find(f"{{{APPREC_V1_0}}}Error")
    return 200 if first_error is None else http_for_apprec(first_error.get("V") or "")


class KithIntake:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        schemas: KithSchemas | None,
        pseudonym: Pseudonymizer,
        max_bytes: int,
    ) -> None:
        self.store = store
        self.clock = clock
        self.schemas = schemas
        self.pseudonym = pseudonym
        self.max_bytes = max_bytes
        self.metrics: Metrics | None = None  # the gateway's counters (events in), set by the app

    async def receive(self, body: bytes, may: Callable[[str], bool] | None = None) -> KithReply:
        """One document from HTTP or a file: its answer, after it is durable.

        `may` is the caller's organisation check (None for files read by an operator): an answer
        comes from the answered message's recipient, so the caller must act for that recipient and
        for the sender the document names; otherwise nothing is stored and the reply is 403."""
        reply, kind = await self._receive(body, may)
        if self.metrics is not None:
            result = "accepted" if reply.status < 400 else "rejected"
            self.metrics.events.labels(CHANNEL, kind, result).inc()
        return reply

    async def _receive(self, body: bytes, may: Callable[[str], bool] | None) -> tuple[KithReply, str]:
        now = iso(self.clock.now())
        kind = "unknown"
        try:
            inbound = read_inbound(body, self.schemas, self.max_bytes)
            kind = "APPREC" if inbound.apprec is not None else "DIALOG"
        except KithRejected as exc:
            log.info("kith_rejected", problems=[f"{p.location}: {p.kind}" for p in exc.problems])
            status = max(answer_for(p.kind).http for p in exc.problems)
            if exc.header is None:
                return problem_reply(status, exc.problems), kind
            unit = self._rejected_unit(exc.header, exc.problems, body, now)
        else:
            if may is not None and not await self._caller_answers_for(inbound, may):
                refusal = Problem("$", "forbidden", "the access token does not permit this")
                return problem_reply(403, [refusal]), kind
            if inbound.apprec is not None:
                unit = self._apprec_unit(inbound.apprec, body, now)
            else:
                assert inbound.dialog is not None
                unit = self._dialog_unit(inbound.dialog, body, now)
        try:
            response, content_type = await self.store.write(unit)
        except StoreUnavailable:
            log.error("store_unavailable", channel=CHANNEL)
            return problem_reply(
                answer_for("transient").http,
                [Problem("$", "transient", "the gateway could not store it; send it again")],
            ), kind
        return KithReply(_status_of(response), response, content_type), kind

    async def _caller_answers_for(self, inbound: Inbound, may: Callable[[str], bool]) -> bool:
        if inbound.apprec is not None:
            original = inbound.apprec.original_id
            answered = await self.store.read(lambda r: r.outbound(original))
            sender = inbound.apprec.sender
        else:
            assert inbound.dialog is not None
            header = inbound.dialog.header
            answered = await self.store.read(lambda r: _referred(r, header))
            sender = header.sender.her if header.sender else None
        if answered is not None and not may(answered.recipient_her):
            return False
        return sender is None or may(sender)

    def _once(
        self,
        key: str,
        msg_type: str | None,
        body: bytes,
        now: str,
        work: Callable[[Tx, int], tuple[bytes, str]],
    ) -> Callable[[Tx], tuple[bytes, str]]:
        """Dedupe on the document's own id, record it, do the work, keep the answer with it."""

        def unit(tx: Tx) -> tuple[bytes, str]:
            seq = tx.insert_inbound(
                key, CHANNEL, msg_type, now, hashlib.sha256(body).hexdigest(), body, "accepted"
            )
            if seq is None:
                existing = tx.find_inbound(key)
                assert existing is not None and existing.response is not None  # stored with its answer
                log.info("kith_duplicate", id=key)
                kind = "application/json" if existing.response.startswith(b"{") else APPREC_XML
                return existing.response, kind
            response, status = work(tx, seq)
            tx.finish_inbound(seq, status, response)
            return response, "application/json" if response.startswith(b"{") else APPREC_XML

        return unit

    def _apprec_unit(self, rec: AppRec, body: bytes, now: str) -> Callable[[Tx], tuple[bytes, str]]:
        def work(tx: Tx, seq: int) -> tuple[bytes, str]:
            errors = [e.as_dict() for e in rec.errors]
            known = tx.add_receipt(rec.original_id, rec.status, errors, rec.sender, "apprec", now, body)
            log.info("apprec_received", answers=rec.original_id, status=rec.status, known=known)
            answer = {
                "receiptId": rec.id,
                "messageId": rec.original_id,
                "status": rec.status,
                "errors": errors,
                "known": known,
            }
            # a receipt for a message we never sent is kept and reported (/receipts/unknown), not dropped
            return orjson.dumps(answer), "processed" if known else "unknown-message"

        # the AppRec's own Id is the dedupe key; an empty one (the schema allows it) falls back to the body
        key = rec.id.strip() or hashlib.sha256(body).hexdigest()
        return self._once(f"apprec:{key}", "APPREC", body, now, work)

    def _dialog_unit(self, dialog: Dialog, body: bytes, now: str) -> Callable[[Tx], tuple[bytes, str]]:
        h = dialog.header

        def work(tx: Tx, seq: int) -> tuple[bytes, str]:
            status = self._attach(tx, seq, dialog, now)
            log.info("dialog_received", msg_id=h.msg_id, msg_type=h.msg_type, outcome=status)
            return render_apprec(h, "1", [], new_id(), now), status

        return self._once(f"kith:{h.msg_id}", h.msg_type, body, now, work)

    def _rejected_unit(
        self, header: Header, problems: list[Problem], body: bytes, now: str
    ) -> Callable[[Tx], tuple[bytes, str]]:
        def work(tx: Tx, seq: int) -> tuple[bytes, str]:
            return render_apprec(header, "2", _receipt_errors(problems), new_id(), now), "rejected"

        # the same MsgId again gets the same (negative) receipt: a receipt is final (HITS 1168 §5.1)
        return self._once(f"kith:{header.msg_id}", header.msg_type, body, now, work)

    def _attach(self, tx: Tx, seq: int, dialog: Dialog, now: str) -> str:
        """Put the Dialogmelding on the stay of the message it refers to; say what happened."""
        h = dialog.header
        ours = _referred(tx, h)
        if ours is None:
            return "unlinked"
        stay = tx.stay_by_id(ours.stay_id)
        if stay is None:
            return "unlinked"
        named = h.patient_id if h.patient_id_type in PERSON_ID_TYPES else None
        if named and self.pseudonym(named) != stay.patient_ref:
            # refers to our message but names another patient: kept, never put on that stay
            return "patient-mismatch"
        is_ready = ours.message_type == "LOG_UTSKRIVNINGSKLAR"
        answer = ready_answer(dialog) if is_ready else None
        resource = as_communication(dialog, ours.message_id, answer, now)
        code = READY_ANSWER if is_ready else DIALOG_NOTE
        tx.add_stay_event(stay.stay_id, seq, code, utc(h.gen_date) or now, [resource])
        state = fold(tx.stay_events(stay.stay_id))
        tx.update_stay(stay.stay_id, state.status, state.summary(), now)
        return "processed"


def _referred(tx: Tx, h: Header) -> OutboundRow | None:
    """Our message this one answers: RefToParent first, then the conversation's first message."""
    for ref in (h.ref_to_parent, h.ref_to_conversation):
        if ref and (row := tx.outbound(ref)) is not None:
            return row
    return None
