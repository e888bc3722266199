"""The inbox: events acknowledged at storage wait here until they are processed.

An HL7 v2 sender that asks for the accept acknowledgement (enhanced mode, MSH-15), every HL7 v2
sender when `hl7_original_ack = "stored"`, and a FHIR caller that sends `Prefer: respond-async`
are answered as soon as the event is durable in `inbound` (status `accepted`). Mapping (HL7 v2),
the stay, routing, the handover rules and the outbox follow here, one event per unit of work,
oldest first; the answer processing produces (the application acknowledgement, or the FHIR
response Bundle) is kept on the row (`outcome`), where `GET /hl7v2/outcome` and
`GET /fhir/outcome/{id}` show it.

A FHIR event was checked against the contract and the sender's rights before it was stored; the
R4B models validate it here, in the validation worker, for the next `AHEAD` events at a time
before the drain reaches them (a unit of work cannot wait for the worker, and the loop should
not do its work). One the models refuse is kept `rejected` with the OperationOutcome.

Accepts come first: while messages keep arriving (one within `QUIET_SECONDS`) the drain holds
back, but runs a unit at least every `DEFER_SECONDS`, so a burst is taken at the speed of storage
and processed after it. One unit of work blocks the loop for 1.5 – 2 ms, and the ACKs of every
connection wait behind it: measured, running the drain whenever no accept was waiting for its
commit held one connection to 418 ACKs a second (docs/PERFORMANCE.md). The backlog is
bounded: at `max_backlog` waiting messages the accept path waits for room, which stops the MLLP
connection reading, so the pressure goes back to the sender, not into memory or the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import structlog

from adapters.fhir.inbound import decode_message_bundle, structure_problems
from adapters.hl7v2.ack import Header
from adapters.hl7v2.mapping import map_message
from adapters.hl7v2.message import Message
from adapters.problems import InputRejected, Problem
from gateway.intake.fhir_response import ok_response, operation_outcome, response_bundle
from gateway.intake.hl7_answers import ack_control_id, rejection
from gateway.intake.rule_answers import rules_ack
from gateway.intake.validators import ValidatorPool
from gateway.pipeline.events import event_from_bundle
from gateway.pipeline.processor import Outcome, Pipeline
from gateway.store.base import AcceptedRow, Store, StoreUnavailable, Tx

log = structlog.get_logger("inbox")

QUIET_SECONDS = 0.005  # no message for this long: the senders are quiet, the drain may run
DEFER_SECONDS = 0.05  # while they are not, the drain still runs a unit this often
POLL_SECONDS = 1.0  # with nothing to do: look again (another instance may have accepted some)
AHEAD = 32  # FHIR events whose model validation the worker is asked for ahead of the drain


@dataclass(slots=True)
class Drained:
    """What processing one accepted message came to."""

    seq: int
    channel: str
    reference: str  # MSH-10, or the FHIR MessageHeader.id
    status: str  # processed | rejected | failed
    outcome: Outcome | None = None
    problems: list[Problem] = field(default_factory=list)


class Inbox:
    def __init__(
        self, store: Store, pipeline: Pipeline, max_backlog: int, validator: ValidatorPool | None = None
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.validator = validator  # None: the models run in this process, inside the unit
        self._verdicts: dict[int, asyncio.Future[list[Problem]]] = {}  # by inbound seq
        self._fhir_waiting = True  # FHIR events may wait that have no verdict asked for yet
        self.max_backlog = max(1, max_backlog)
        self.backlog = 0  # accepted and not processed yet (this instance's count, resynced when idle)
        self._stored = 0  # accepts this instance has seen committed, ever: to resync without losing any
        self._last_accept = 0.0  # monotonic time of the latest accept
        self._last_unit = 0.0  # monotonic time the drain last ran a unit
        self.on_drained: Callable[[Drained], None] = lambda drained: None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._stopping = False

    # --- the accept path's side ------------------------------------------------------------

    @property
    def full(self) -> bool:
        return self.backlog >= self.max_backlog

    async def room(self) -> None:
        while self.full and not self._stopping:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._room.wait()

    def accept_started(self) -> None:
        self._last_accept = time.monotonic()

    def accept_finished(self, stored: bool, channel: str) -> None:
        if stored:
            self.backlog += 1
            self._stored += 1
            self._fhir_waiting = self._fhir_waiting or channel == "fhir"
            self._wake.set()

    # --- the drain ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._room.set()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            for verdict in self._verdicts.values():  # their events wait in the store for the next start
                verdict.cancel()
            self._forget(None)

    async def _run(self) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self._recount()
        while not self._stopping:
            if self.backlog <= 0:
                await self._idle()
                continue
            if (wait := self._defer()) > 0:
                await asyncio.sleep(wait)
                continue
            try:
                await self._validate_ahead()
                self._last_unit = time.monotonic()
                stored_before = self._stored
                drained = await self._drain_one()
            except StoreUnavailable:
                log.error("inbox_store_unavailable")
                await asyncio.sleep(POLL_SECONDS)
                continue
            if drained is None:
                # nothing left that the claim could see (another instance may have taken the rest);
                # what was committed while it ran may not have been visible to it: still waiting
                self.backlog = self._stored - stored_before
                self._forget(None)
                continue
            self._forget(drained.seq)
            self.backlog = max(0, self.backlog - 1)
            if not self.full:
                self._room.set()
            self.on_drained(drained)

    def _defer(self) -> float:
        """How long the drain should still hold back for the accepts (0: run a unit now)."""
        if self.full:
            return 0.0
        now = time.monotonic()
        return max(0.0, min(self._last_accept + QUIET_SECONDS, self._last_unit + DEFER_SECONDS) - now)

    async def _validate_ahead(self) -> None:
        """Ask the worker for the models' verdict on the next FHIR events waiting, and wait for
        the first of them (the drain takes the oldest event first)."""
        if self.validator is None:
            return
        if not self._verdicts and self._fhir_waiting:
            self._fhir_waiting = False  # before the read: an event accepted meanwhile sets it again
            waiting = await self.store.read(lambda r: r.accepted_bodies("fhir", AHEAD))
            self._fhir_waiting = self._fhir_waiting or len(waiting) == AHEAD
            for seq, body in waiting:
                verdict = asyncio.ensure_future(self.validator.check(body, contract=False))
                verdict.add_done_callback(_retrieve)
                self._verdicts[seq] = verdict
        if self._verdicts:
            await asyncio.wait([self._verdicts[min(self._verdicts)]])

    def _forget(self, processed: int | None) -> None:
        """Drop the verdicts of events processed (`processed` and older), or all of them."""
        for seq in [s for s in self._verdicts if processed is None or s <= processed]:
            del self._verdicts[seq]

    def _model_problems(self, seq: int, bundle: dict[str, object]) -> list[Problem]:
        verdict = self._verdicts.get(seq)
        if verdict is not None and verdict.done() and verdict.exception() is None:
            problems = verdict.result()
            if not any(p.kind == "transient" for p in problems):  # the worker's own failure: not a verdict
                return problems
        return structure_problems(bundle)  # no worker, or it failed: here, as a unit may not wait

    async def _idle(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await self._wake.wait()
                return
        with contextlib.suppress(StoreUnavailable):  # a quiet second: count what waits
            await self._recount()

    async def _recount(self) -> None:
        """The backlog from the store. An accept committed while the count ran may be missing from
        it (PostgreSQL: another connection): counted as well, since counting one twice only holds
        the senders a moment longer, and missing one would let the backlog past its bound."""
        stored_before = self._stored
        count = await self.store.read(lambda r: r.accepted_count())
        self.backlog = count + (self._stored - stored_before)

    async def _drain_one(self) -> Drained | None:
        claimed: list[int] = []
        try:
            return await self.store.write(lambda tx: self._process_next(tx, claimed))
        except StoreUnavailable:
            raise
        except Exception as exc:  # a message processing cannot handle must not block those after it
            if not claimed:
                raise StoreUnavailable(f"inbox claim failed: {type(exc).__name__}") from None
            log.error("inbox_processing_failed", seq=claimed[-1], error=type(exc).__name__)
            return await self.store.write(lambda tx: self._fail(tx, claimed[-1]))

    def _process_next(self, tx: Tx, claimed: list[int]) -> Drained | None:
        row = tx.next_accepted()
        if row is None:
            return None
        claimed.append(row.seq)
        if row.channel == "fhir":
            return self._process_fhir(tx, row)
        msg = Message.parse(row.body)  # it parsed when it was accepted
        header = _application(Header.of(msg))
        try:
            event = event_from_bundle(map_message(msg), row.received_at)
        except InputRejected as exc:
            ack, _status = rejection(header, exc.problems)
            tx.finish_accepted(row.seq, "rejected", ack)
            return Drained(row.seq, row.channel, header.control_id, "rejected", problems=exc.problems)
        ack_id = ack_control_id()
        outcome = self.pipeline.process(
            tx, event, row.seq, row.received_at, lambda o: rules_ack(header, o, ack_id)
        )
        tx.finish_accepted(row.seq, "processed", outcome.response or b"")
        return Drained(row.seq, row.channel, header.control_id, "processed", outcome=outcome)

    def _process_fhir(self, tx: Tx, row: AcceptedRow) -> Drained:
        """A FHIR event passed the contract before it was stored; the models may still refuse it."""
        bundle = decode_message_bundle(row.body)  # it decoded when it was accepted
        if problems := self._model_problems(row.seq, bundle):
            code = bundle["entry"][0]["resource"]["eventCoding"]["code"]  # read when it was accepted
            answer = response_bundle(
                row.message_id, code, "fatal-error", operation_outcome(problems), row.received_at
            )
            tx.finish_accepted(row.seq, "rejected", answer)
            return Drained(row.seq, row.channel, row.message_id, "rejected", problems=problems)
        event = event_from_bundle(bundle, row.received_at)
        outcome = self.pipeline.process(
            tx, event, row.seq, row.received_at, lambda o: ok_response(o, row.received_at)
        )
        tx.finish_accepted(row.seq, "processed", outcome.response or b"")
        return Drained(row.seq, row.channel, row.message_id, "processed", outcome=outcome)

    @staticmethod
    def _fail(tx: Tx, seq: int) -> Drained | None:
        row = tx.next_accepted()
        if row is None or row.seq != seq:
            return None  # no longer waiting (another instance took it, or it was the claim that failed)
        if row.channel == "fhir":
            problem = Problem("Bundle", "internal", "the gateway could not process the message")
            outcome = operation_outcome([problem])
            answer = response_bundle(row.message_id, None, "fatal-error", outcome, row.received_at)
            tx.finish_accepted(seq, "failed", answer)
            return Drained(seq, row.channel, row.message_id, "failed", problems=[problem])
        problem = Problem("MSH", "internal", "the gateway could not process the message")
        header = _application(Header.of(Message.parse(row.body)))
        ack, _status = rejection(header, [problem])
        tx.finish_accepted(seq, "failed", ack)
        return Drained(seq, row.channel, header.control_id, "failed", problems=[problem])


def _retrieve(verdict: asyncio.Future[list[Problem]]) -> None:
    """A verdict nobody asks for (its event went elsewhere) must not log "never retrieved"."""
    if not verdict.cancelled():
        verdict.exception()


def _application(header: Header) -> Header:
    """The header as original mode reads it: the outcome kept is an application acknowledgement
    (AA/AE/AR) whatever accept acknowledgement the sender asked for."""
    return replace(header, accept_ack="")
