"""Intake: turn a received body into an accepted, durable event and an answer for the sender.

Every door (FHIR HTTP, HL7 v2 over MLLP or HTTP) ends here, so dedupe, durability and the
answer's semantics are the same whichever way an event came in.
"""

from __future__ import annotations

from collections.abc import Callable
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
from adapters.hl7v2.mapping import map_message
from adapters.hl7v2.message import Message, Separators
from adapters.problems import InputRejected, Problem
from gateway.clock import Clock, iso
from gateway.errors import answer_for
from gateway.ids import new_id
from gateway.intake.fhir_response import ok_response, operation_outcome, response_bundle
from gateway.intake.rule_answers import rules_ack
from gateway.intake.validators import ValidatorPool
from gateway.metrics import Metrics
from gateway.pipeline.events import event_from_bundle
from gateway.pipeline.processor import Outcome, Pipeline, Received
from gateway.store.base import Store, StoreUnavailable
from gateway.workers import WorkerUnavailable

log = structlog.get_logger("intake")


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
        self, store: Store, pipeline: Pipeline, clock: Clock, validator: ValidatorPool | None = None
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.clock = clock
        # Model validation is the one costly CPU step of intake; a worker process runs it on the
        # second core while this loop serves sockets and the store commits.
        self.validator = validator
        # told of each committed event that produced messages: wakes the deliverer, long-polls
        self.after_commit: Callable[[Outcome], None] = lambda outcome: None
        self.metrics = Metrics()

    async def fhir_message(self, body: bytes, *, xml: bool = False, may_send: MaySend | None = None) -> Reply:
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
            # XML was validated against the models while it was parsed; JSON is validated here, once
            if xml:
                check_contract(bundle)
            elif problems := await self._problems(body, bundle):
                raise InputRejected(problems)
            event = event_from_bundle(bundle, now)
            _check_sender(event.sender_her, may_send, "MessageHeader.sender")
        except InputRejected as exc:
            return self._rejected(exc.problems, request_id, event_code, now)
        except WorkerUnavailable:
            return self._transient("validator_unavailable", request_id, event_code, now)
        received = Received("fhir", body, now)
        try:
            outcome = await self.store.write(
                self.pipeline.unit(event, received, lambda o: ok_response(o, now))
            )
        except StoreUnavailable:
            return self._transient("store_unavailable", request_id, event_code, now)
        self._accepted(outcome, "fhir")
        return Reply(200, outcome.response or b"", outcome)

    async def hl7v2_message(
        self, raw: bytes, channel: str, may_send: MaySend | None = None
    ) -> tuple[Reply, bool]:
        """An HL7 v2 message in, its ACK out (Reply.body; empty when enhanced mode wants none).

        The second value says whether the message was accepted (for HTTP status codes).
        """
        now = iso(self.clock.now())
        try:
            msg = Message.parse(raw)
        except InputRejected as exc:
            log.info(
                "event_rejected", channel=channel, problems=[f"{p.location}: {p.kind}" for p in exc.problems]
            )
            return self._hl7_rejected(Header(Separators()), exc.problems), False
        header = Header.of(msg)
        try:
            bundle = map_message(msg)
            event = event_from_bundle(bundle, now)
            _check_sender(event.sender_her, may_send, "MSH-4")
        except InputRejected as exc:
            log.info(
                "event_rejected",
                channel=channel,
                control_id=header.control_id,
                problems=[f"{p.location}: {p.kind}" for p in exc.problems],
            )
            return self._hl7_rejected(header, exc.problems), False
        ack_id = new_id().replace("-", "")[:20]
        try:
            outcome = await self.store.write(
                self.pipeline.unit(
                    event,
                    Received(channel, raw, now),
                    lambda o: rules_ack(header, o, ack_id),
                )
            )
        except StoreUnavailable:
            log.error("store_unavailable", channel=channel, control_id=header.control_id)
            problem = Problem("MSH-10", "transient", "the gateway could not store the message; send it again")
            return self._hl7_rejected(header, [problem]), False
        self._accepted(outcome, channel, control_id=header.control_id)
        return Reply(200, outcome.response or b"", outcome), True

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

    def _hl7_rejected(self, header: Header, problems: list[Problem]) -> Reply:
        answers = [answer_for(p.kind) for p in problems]
        code = "AR" if any(a.ack == "AR" for a in answers) else "AE"
        self.metrics.events.labels("hl7v2", header.trigger or "unknown", "rejected").inc()
        ack = build_ack(
            header,
            code,
            [(p, a.hl7) for p, a in zip(problems, answers, strict=True)],
            text=problems[0].text,
            control_id=new_id().replace("-", "")[:20],
        )
        return Reply(max(a.http for a in answers), ack or b"")

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
