"""The push deliverer: due deliveries out to subscribers' endpoints, outcomes back into the store.

Only 2xx counts as delivered. 410 disables the subscription. 429 and 503 with Retry-After wait
as long as asked (capped by the next step of the schedule's end); anything else waits for the
next step of the retry schedule, with ±20 % jitter so that a recovering subscriber is not hit
by every message at once. After the last step the delivery is dead: visible in the API and
redeliverable. Each subscriber has its own small concurrency budget and every request its
own timeout, so a slow or silent subscriber cannot hold up the others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import orjson
import structlog
from cryptography import x509

from gateway.clock import Clock, iso, iso_ms
from gateway.delivery.cms_signer import CmsSigner
from gateway.delivery.signing import signed_headers
from gateway.delivery.webhook_client import PostFailed, WebhookClient
from gateway.ids import new_id
from gateway.metrics import Metrics
from gateway.protection import cms
from gateway.render.formats import KITH_XML, RENDERERS, format_name
from gateway.render.kith_output import KithOutput
from gateway.store.base import AuditEntry, DeliveryRow, KeptSignature, Store, StoreUnavailable, Tx

log = structlog.get_logger("delivery")

DEFAULT_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 72000)  # ≈ 2.6 days in all
CMS_SIGNATURE_HEADER = "gateway-cms-signature"  # base64 DER, detached SignedData over the plaintext


@dataclass
class DeliverySettings:
    schedule: Sequence[float] = DEFAULT_SCHEDULE
    timeout: float = 10.0
    per_subscriber: int = 32
    batch: int = 200
    idle_poll: float = 1.0
    # how long a claimed delivery stays this instance's; past it another instance may send it
    # (this one died). Longer than `timeout`, so a live instance records its outcome first.
    lease: float = 60.0
    claim_gap: float = 0.005  # at most one claim per this many seconds unless a batch came full
    # attempts claimed and not yet settled, at most: a subscriber slower than the events keeps its
    # backlog in the database, not as claimed rows (payload and all) waiting in this process
    in_flight: int = 256


@dataclass
class _Outcome:
    status: str  # delivered | pending | dead | skipped (no form in the subscriber's format)
    delay: float = 0.0
    error: str | None = None
    disable: bool = False
    signed: KeptSignature | None = None  # a CMS signature this attempt made: kept once recorded


@dataclass
class Deliverer:
    store: Store
    clock: Clock
    settings: DeliverySettings = field(default_factory=DeliverySettings)
    signer: CmsSigner | None = None
    metrics: Metrics | None = None
    kith: KithOutput | None = None
    # this instance's name on the deliveries it claims (several instances may share a database).
    # The gateway names it by host and HTTP port, so an instance restarted after a crash takes
    # back at once what it had claimed, instead of waiting for the lease to run out.
    claimant: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}")
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _budgets: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _claimed: Counter[str] = field(default_factory=Counter)  # attempts in flight per subscription
    _stopping: bool = False

    def wake(self) -> None:
        """Called after a commit that may have queued deliveries."""
        self._wake.set()

    def stop(self) -> None:
        """Ends `run` after its current step; attempts in flight are cancelled, and an attempt
        whose outcome is lost is simply due again (same webhook-id) after restart."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        client = WebhookClient(self.settings.timeout)
        try:
            # A stop flag, not only cancellation: on Python 3.11 a cancel that lands as the
            # wake-up fires can be swallowed, and the loop would never end.
            with contextlib.suppress(StoreUnavailable):  # what an earlier run of ours left claimed
                await self.store.write(lambda tx: tx.release_claims(self.claimant))
            while not self._stopping:
                self._wake.clear()
                # no room: the next settled attempt wakes the loop
                room = min(self.settings.batch, self.settings.in_flight - len(self._tasks))
                if room > 0 and len(await self._claim_and_send(client, room)) < room:
                    # wake-ups that come meanwhile (commits, settled attempts) share the next
                    # claim: one claim per wake-up cost a unit of work per event and per attempt
                    await asyncio.sleep(self.settings.claim_gap)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.idle_poll):
                        await self._wake.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            client.close()
            # what this instance claimed but did not finish is free for the others at once
            with contextlib.suppress(StoreUnavailable):
                await self.store.write(lambda tx: tx.release_claims(self.claimant))

    async def _claim_and_send(self, client: WebhookClient, limit: int) -> list[DeliveryRow]:
        claimed, lease_until = await self._claim(limit)
        for row in claimed:
            self._claimed[row.subscription_id] += 1
            task = asyncio.create_task(self._deliver(client, row, lease_until))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return claimed

    async def _claim(self, limit: int) -> tuple[list[DeliveryRow], datetime]:
        """Up to `limit` due deliveries, claimed for this instance in one unit of work (a patient's
        next message is not due while the one before it is claimed, so order holds across
        instances), and when the claim's lease runs out."""
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.settings.lease)
        stamp, until = iso_ms(now), iso_ms(lease_until)
        busy = [s for s, n in self._claimed.items() if n >= self.settings.per_subscriber]
        try:
            rows = await self.store.write(
                lambda tx: tx.claim_deliveries(stamp, self.claimant, until, limit, busy)
            )
        except StoreUnavailable:
            log.warning("delivery_claim_failed")
            rows = []
        return rows, lease_until

    async def _deliver(self, client: WebhookClient, row: DeliveryRow, lease_until: datetime) -> None:
        """Sends a claimed delivery, then the same patient's next ones to the same subscriber as
        long as each is claimed with the last one's outcome (one unit of work per message, not two)."""
        subscription_id = row.subscription_id
        try:
            next_row: DeliveryRow | None = row
            while next_row is not None:
                next_row, lease_until = await self._deliver_one(client, next_row, lease_until)
        finally:
            self._claimed[subscription_id] -= 1
            if not self._claimed[subscription_id]:
                del self._claimed[subscription_id]
            self._wake.set()  # the patient's next message may be due now

    async def _deliver_one(
        self, client: WebhookClient, row: DeliveryRow, lease_until: datetime
    ) -> tuple[DeliveryRow | None, datetime]:
        budget = self._budgets.setdefault(
            row.subscription_id, asyncio.Semaphore(self.settings.per_subscriber)
        )
        async with budget:
            if self.clock.now() + timedelta(seconds=self.settings.timeout) >= lease_until:
                # waited behind a slow subscriber's other attempts until the lease could run out
                # mid-attempt: not sent now; the row is claimed afresh (by whichever instance)
                log.info("delivery_lease_lapsing", subscription=row.subscription_id)
                return None, lease_until
            outcome = await self._attempt(client, row)
        now = self.clock.now()
        next_at = iso_ms(now + timedelta(seconds=outcome.delay))
        next_lease = now + timedelta(seconds=self.settings.lease)

        def record(tx: Tx) -> DeliveryRow | None:
            if not tx.record_attempt(
                row.subscription_id,
                row.outbound_seq,
                status=outcome.status,
                next_attempt_at=next_at,
                error=outcome.error,
                now=iso(now),
                claimant=self.claimant,
            ):
                return None  # the lease ran out and another instance took it over: its outcome counts
            if outcome.signed is not None:
                tx.keep_signature(row.outbound_seq, row.format, outcome.signed)
            if outcome.disable:
                tx.update_subscription(row.subscription_id, status="disabled")
            if outcome.status != "delivered":
                return None
            tx.add_audit(  # an export of patient data: audited like a read
                [
                    AuditEntry(
                        iso(now),
                        f"subscription:{row.subscription_id}",
                        "",
                        "webhook",
                        "message",
                        row.message_id,
                        urlsplit(row.endpoint).netloc,  # where to; not the path (may carry secrets)
                    )
                ]
            )
            if self._stopping:
                return None
            found = tx.claim_deliveries(
                iso_ms(now),
                self.claimant,
                iso_ms(next_lease),
                1,
                only=(row.subscription_id, row.order_key),
            )
            return found[0] if found else None

        # the outcome must be stored even if the deliverer is being stopped
        following = await asyncio.shield(self.store.write(record))
        if self.metrics is not None:
            self.metrics.delivery_attempts.labels(outcome.status).inc()
        log.info(
            "delivery_attempt",
            subscription=row.subscription_id,
            message_id=row.message_id,
            attempt=row.attempts + 1,
            status=outcome.status,
            error=outcome.error,
        )
        return following, next_lease

    async def _plaintext(self, row: DeliveryRow) -> tuple[bytes, str] | _Outcome:
        """The message in the subscription's format, or why it is not sent: a KITH rendering that
        failed validation is never sent (dead, with the redacted errors), and a message type with
        no KITH form is skipped for a KITH subscriber."""
        fmt = format_name(row.format)
        if fmt != KITH_XML:
            return row.payload, RENDERERS[fmt].media_type
        if self.kith is None:
            return _Outcome("dead", error="KITH XML output is not configured")
        rendered = await self.kith.get(row.message_id, row.payload)
        if rendered.status == "no-form":
            return _Outcome("skipped", error=rendered.errors[0])
        if rendered.body is None:
            return _Outcome(
                "dead", error="KITH XML failed schema validation: " + "; ".join(rendered.errors[:3])
            )
        return rendered.body, RENDERERS[KITH_XML].media_type

    async def _protect(
        self, row: DeliveryRow, plaintext: bytes, media_type: str
    ) -> tuple[bytes, dict[str, str], KeptSignature | None]:
        """The body and headers for one attempt: the message (encrypted to the subscriber's
        certificate when it registered one) with the gateway's detached CMS signature over the
        plaintext in a header, and the Standard Webhooks signature over the body as sent. Also
        the CMS signature if this attempt made it: one kept with the message in this format is
        sent again as long as the same certificate signs (the same bytes on every retry, and a
        backlog drains without signing each message again)."""
        extra = {"Content-Type": media_type}
        body = plaintext
        made = None
        if self.signer is not None:
            if row.kept is not None and row.kept.signed_by == self.signer.fingerprint:
                extra[CMS_SIGNATURE_HEADER] = row.kept.signature
            else:
                signature = await self.signer.signature(row.message_id, format_name(row.format), plaintext)
                extra[CMS_SIGNATURE_HEADER] = signature
                made = KeptSignature(signature, self.signer.fingerprint)
        if row.certificate:
            recipient = x509.load_pem_x509_certificate(row.certificate.encode())
            body = base64.b64encode(cms.encrypt(plaintext, recipient))
            extra["Content-Type"] = "application/pkcs7-mime; smime-type=enveloped-data"
            extra["Content-Transfer-Encoding"] = "base64"
        headers = signed_headers(orjson.loads(row.secrets), row.message_id, self.clock.now(), body)
        return body, {**headers, **extra}, made

    async def _attempt(self, client: WebhookClient, row: DeliveryRow) -> _Outcome:
        message = await self._plaintext(row)
        if isinstance(message, _Outcome):
            return message
        body, headers, made = await self._protect(row, *message)
        outcome = await self._send(client, row, body, headers)
        outcome.signed = made
        return outcome

    async def _send(
        self, client: WebhookClient, row: DeliveryRow, body: bytes, headers: dict[str, str]
    ) -> _Outcome:
        try:
            answer = await client.post(row.endpoint, body, headers)
        except PostFailed as exc:
            return self._retry(row, str(exc))
        status = answer.status
        if 200 <= status < 300:
            return _Outcome("delivered")
        if status == 410:
            return _Outcome("dead", error="410 Gone: subscription disabled", disable=True)
        outcome = self._retry(row, f"HTTP {status}")
        if status in (429, 503) and answer.retry_after > 0 and outcome.status == "pending":
            outcome.delay = min(float(answer.retry_after), max(self.settings.schedule))
        return outcome

    def _retry(self, row: DeliveryRow, error: str) -> _Outcome:
        step = row.attempts  # attempts made before this one
        if step >= len(self.settings.schedule):
            return _Outcome("dead", error=error)
        return _Outcome("pending", delay=self.settings.schedule[step] * random.uniform(0.8, 1.2), error=error)
