"""Intake: turn a received body into an accepted, durable event and an answer for the sender.

Every door (FHIR HTTP, HL7 v2 over MLLP or HTTP) ends here, so dedupe, durability and the
answer's semantics are the same whichever way an event came in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from adapters.fhir.codes import INBOUND_EVENTS
from adapters.fhir.inbound import (
    bundle_problems,
    check_contract,
    decode_message_bundle,
)
from adapters.fhir.inbound_xml import parse_xml_bundle
from adapters.hl7v2.ack import Header, build_ack
from adapters.hl7v2.mapping import accept_check, map_message, message_key, sender_her
from adapters.hl7v2.message import Message, Separators
from adapters.problems import InputRejected, Problem
from gateway.clock import Clock, iso
from gateway.errors import answer_for
from gateway.intake.fhir_response import accepted_for_later, ok_response, operation_outcome, response_bundle
from gateway.intake.hl7_answers import ack_control_id, rejection
from gateway.intake.inbox import Drained, Inbox
from gateway.intake.rule_answers import rules_ack
from gateway.intake.validators import ValidatorPool
from gateway.metrics import Metrics
from gateway.pipeline.events import InboundEvent, event_from_bundle
from gateway.pipeline.processor import Outcome, Pipeline, Received
from gateway.store.base import Store, StoreUnavailable, Tx
from gateway.workers import WorkerUnavailable

log = structlog.get_logger("intake")


Answer = Callable[["Reply"], None]  # called once with the answer to one message
NOT_STORED = Problem("MSH-10", "transient", "the gateway could not store the message; send it again")
MaySend = Callable[[str | None], bool]  # whether the caller may send for this sender HER-id


def _check_sender(sender_her: str | None, may_send: MaySend | None, location: str) -> None:
    """The sending institution must be the caller's own (token organisation or MLLP certificate)."""
    if may_send is not None and not may_send(sender_her):
        raise InputRejected([Problem(location, "forbidden", "the caller may not send for this institution")])


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    outcome: Outcome | None = None


class Intake:
    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        clock: Clock,
        inbox: Inbox,
        validator: ValidatorPool | None = None,
        ack_at_storage: bool = False,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.clock = clock
        # Model validation is the one costly CPU step of intake; a worker process runs it on the
        # second core while this loop serves sockets and the store commits.
        self.validator = validator
        self.inbox = inbox  # events answered once stored wait there to be processed
        self.ack_at_storage = ack_at_storage  # original mode too is answered once stored
        # told of each committed event that produced messages: wakes the deliverer, long-polls
        self.after_commit: Callable[[Outcome], None] = lambda outcome: None
        self.metrics = Metrics()

    async def fhir_message(
        self,
        body: bytes,
        *,
        xml: bool = False,
        may_send: MaySend | None = None,
        respond_async: bool = False,
    ) -> Reply:
        """A FHIR message in, its response out: the response Bundle once processed (200), or, with
        `respond_async` (the caller's `Prefer: respond-async`), 202 once the event has passed the
        contract and the sender's rights and is stored; the inbox validates it against the models,
        processes it and keeps the response Bundle (or the models' refusal) for the caller to
        fetch. Either way nothing is acknowledged before it is durable."""
        now = iso(self.clock.now())
        request_id = event_code = None
        try:
            bundle = decode_message_bundle(orjson.dumps(parse_xml_bundle(body)) if xml else body)
            header = bundle["entry"][0]["resource"]
            request_id = header.get("id") if isinstance(header.get("id"), str) else None
            code = (
                (header.get("eventCoding") or {}).get("code")
                if isinstance(header.get("eventCoding"), dict)
                else None
            )
            event_code = code if code in INBOUND_EVENTS else None  # known codes only: labels stay bounded
            # XML was validated against the models while it was parsed. JSON answered once stored
            # gets the checks that take microseconds now and the models in the inbox, once; JSON
            # answered in full, or too broken to read without them, gets the models here.
            if xml:
                check_contract(bundle)
                event = event_from_bundle(bundle, now)
            elif (event := _read_before_models(bundle, now) if respond_async else None) is None:
                if problems := await self._problems(body, bundle):
                    raise InputRejected(problems)
                event = event_from_bundle(bundle, now)
            _check_sender(event.sender_her, may_send, "MessageHeader.sender")
        except InputRejected as exc:
            return self._rejected(exc.problems, request_id, event_code, now)
        except WorkerUnavailable:
            return self._transient("validator_unavailable", request_id, event_code, now)
        received = Received("fhir", body, now)
        if respond_async and not xml:  # XML: answered in full, as the Prefer header allows
            return await self._fhir_later(event.message_id, event.event_code, received)
        try:
            outcome = await self.store.write(
                self.pipeline.unit(event, received, lambda o: ok_response(o, now))
            )
        except StoreUnavailable:
            return self._transient("store_unavailable", request_id, event_code, now)
        self._accepted(outcome, "fhir")
        return _fhir_reply(Reply(200, outcome.response or b"", outcome))

    async def _fhir_later(self, message_id: str, event_code: str, received: Received) -> Reply:
        unit = self.pipeline.accept(message_id, event_code, received, accepted_for_later(message_id))
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._accept(
            unit,
            "fhir",
            message_id,
            answer.set_result,
            lambda: self._transient("store_unavailable", message_id, event_code, iso(self.clock.now())),
        )
        return _fhir_reply(await answer)

    def hl7v2(self, raw: bytes, channel: str, may_send: MaySend | None, reply: Answer) -> None:
        """An HL7 v2 message in; `reply` is called once with its ACK (Reply.body; empty when
        enhanced mode wants none): at once when it is refused before anything is stored, else
        once it is stored or processed. A callback, not a future: on the MLLP hot path each
        future in a chain costs a turn of the event loop.

        A sender asking for an accept acknowledgement (MSH-15), or any sender when
        `ack_at_storage`, is answered once the raw message is durable, after the checks that take
        microseconds; the inbox processes it after (gateway/intake/inbox.py). In original mode
        the ACK waits for processing and carries the handover rules' findings.
        """
        now = iso(self.clock.now())
        try:
            msg = Message.parse(raw)
        except InputRejected as exc:
            reply(self._hl7_rejected(Header(Separators()), exc.problems, channel))
            return
        header = Header.of(msg)
        if not (header.accept_ack or self.ack_at_storage):
            _reply_when_done(self._hl7_processed(msg, header, raw, channel, now, may_send), header, reply)
            return
        try:
            code = accept_check(msg)
            sender = sender_her(msg)
            _check_sender(sender if sender.isdigit() else None, may_send, "MSH-4")
        except InputRejected as exc:
            reply(self._hl7_rejected(header, exc.problems, channel))
            return
        unit = self.pipeline.accept(
            message_key(msg),
            code,
            Received(channel, raw, now),
            build_ack(header, "AA", control_id=ack_control_id()) or b"",
        )
        self._accept(
            unit, channel, header.control_id, reply, lambda: self._hl7_rejected(header, [NOT_STORED], channel)
        )

    async def hl7v2_message(self, raw: bytes, channel: str, may_send: MaySend | None = None) -> Reply:
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.hl7v2(raw, channel, may_send, answer.set_result)
        return await answer

    def _accept(
        self,
        unit: Callable[[Tx], Outcome],
        channel: str,
        reference: str,
        reply: Answer,
        refused: Callable[[], Reply],
    ) -> None:
        """Store an event for the inbox to process; `reply` gets 200 with the stored answer once
        it is committed (the first one's again for a duplicate), or `refused()`. While the inbox
        is full the store waits for room, and so does the caller (backpressure)."""
        inbox = self.inbox

        def committed(done: asyncio.Future[Outcome]) -> None:
            error = None if done.cancelled() else done.exception()
            if done.cancelled() or error is not None:
                inbox.accept_finished(stored=False, channel=channel)
                log.error("store_unavailable", channel=channel, reference=reference)
                reply(refused())
                return
            outcome = done.result()
            inbox.accept_finished(stored=not outcome.duplicate, channel=channel)
            result = "duplicate" if outcome.duplicate else "stored"
            self.metrics.events.labels(channel, outcome.event_code, result).inc()
            reply(Reply(200, outcome.response or b"", outcome))

        def store(_: object = None) -> None:
            inbox.accept_started()
            self.store.submit(unit).add_done_callback(committed)

        if inbox.full:  # after the wait, stored whatever came of it: a closing store refuses it
            asyncio.ensure_future(inbox.room()).add_done_callback(store)
            return
        store()

    async def _hl7_processed(
        self, msg: Message, header: Header, raw: bytes, channel: str, now: str, may_send: MaySend | None
    ) -> Reply:
        try:
            event = event_from_bundle(map_message(msg), now)
            _check_sender(event.sender_her, may_send, "MSH-4")
        except InputRejected as exc:
            return self._hl7_rejected(header, exc.problems, channel)
        ack_id = ack_control_id()
        try:
            outcome = await self.store.write(
                self.pipeline.unit(event, Received(channel, raw, now), lambda o: rules_ack(header, o, ack_id))
            )
        except StoreUnavailable:
            log.error("store_unavailable", channel=channel, control_id=header.control_id)
            return self._hl7_rejected(header, [NOT_STORED], channel)
        self._accepted(outcome, channel, control_id=header.control_id)
        return Reply(200, outcome.response or b"", outcome)

    def drained(self, drained: Drained) -> None:
        """The inbox processed an accepted message: counted, logged and told like any event."""
        if drained.outcome is not None:
            self._accepted(drained.outcome, drained.channel, reference=drained.reference)
            return
        self.metrics.events.labels(drained.channel, "unknown", drained.status).inc()
        log.warning(
            "event_rejected_after_accept",
            channel=drained.channel,
            reference=drained.reference,
            status=drained.status,
            problems=[f"{p.location}: {p.kind}" for p in drained.problems],
        )

    def _accepted(self, outcome: Outcome, channel: str, **extra: str) -> None:
        if outcome.produced:
            self.after_commit(outcome)
        self.metrics.events.labels(
            channel, outcome.event_code, "duplicate" if outcome.duplicate else "accepted"
        ).inc()
        for p in outcome.produced:
            self.metrics.messages.labels(p.message_type, p.dispatch_status).inc()
        log.info(
            "event_accepted",
            message_id=outcome.message_id,
            event_code=outcome.event_code,
            channel=channel,
            duplicate=outcome.duplicate,
            stay=outcome.stay_id,
            produced=len(outcome.produced),
            **extra,
        )

    def _hl7_rejected(self, header: Header, problems: list[Problem], channel: str) -> Reply:
        log.info(
            "event_rejected",
            channel=channel,
            control_id=header.control_id,
            problems=[f"{p.location}: {p.kind}" for p in problems],
        )
        self.metrics.events.labels("hl7v2", header.trigger or "unknown", "rejected").inc()
        ack, status = rejection(header, problems)
        return Reply(status, ack)

    async def _problems(self, body: bytes, bundle: dict[str, Any]) -> list[Problem]:
        if self.validator is None:
            return bundle_problems(bundle)
        return await self.validator.check(body)

    def _transient(self, why: str, request_id: str | None, event_code: str | None, now: str) -> Reply:
        log.error(why, message_id=request_id, event_code=event_code)
        self.metrics.events.labels("fhir", event_code or "unknown", "transient").inc()
        problem = Problem("$", "transient", "the gateway could not take the event now; send it again")
        return Reply(
            503, response_bundle(request_id, event_code, "transient-error", operation_outcome([problem]), now)
        )

    def _rejected(
        self, problems: list[Problem], request_id: str | None, event_code: str | None, now: str
    ) -> Reply:
        status = max(answer_for(p.kind).http for p in problems)
        self.metrics.events.labels("fhir", event_code or "unknown", "rejected").inc()
        log.info(
            "event_rejected",
            message_id=request_id,
            event_code=event_code,
            channel="fhir",
            problems=[f"{p.location}: {p.kind}" for p in problems],
        )
        return Reply(
            status, response_bundle(request_id, event_code, "fatal-error", operation_outcome(problems), now)
        )


def _read_before_models(bundle: dict[str, Any], now: str) -> InboundEvent | None:
    """The contract and the pipeline's view of an event read before the models validate it (the
    inbox has them do so): InputRejected names the contract's problems; None when the structure is
    too broken to read without the models, which then say what is wrong, at once."""
    try:
        check_contract(bundle)
        return event_from_bundle(bundle, now)
    except InputRejected:
        raise
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None


def _reply_when_done(work: Coroutine[Any, Any, Reply], header: Header, reply: Answer) -> None:
    """Run `work` as a task; its Reply goes to `reply`. A failure we did not foresee still
    answers, AR, so the sender's connection is never left waiting."""

    def done(task: asyncio.Task[Reply]) -> None:
        if task.cancelled() or task.exception() is not None:
            error = "cancelled" if task.cancelled() else type(task.exception()).__name__
            log.error("hl7_intake_failed", error=error)
            ack, status = rejection(header, [NOT_STORED])
            reply(Reply(status, ack))
        else:
            reply(task.result())

    asyncio.ensure_future(work).add_done_callback(done)


def _fhir_reply(reply: Reply) -> Reply:
    """202 instead of 200 when the stored answer says the event waits to be processed (a duplicate
    of one sent with `Prefer: respond-async` gets that answer again); a response Bundle is 200."""
    if reply.status == 200 and reply.body.startswith(b'{"resourceType":"OperationOutcome"'):
        return Reply(202, reply.body, reply.outcome)
    return reply
