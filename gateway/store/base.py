"""What the pipeline needs from a store, whatever engine is behind it.

A unit of work is a plain synchronous function of a `Tx`; the store runs it inside one
transaction and commits before the caller's await returns, so "acknowledged" always means
"durable". Keeping units of work synchronous lets the SQLite store batch many of them into
one commit (group commit) on the event loop; the PostgreSQL store runs each in a greenlet on the
loop with a pooled connection, and runs it again if PostgreSQL aborted it for a conflict (a unit is a
function of the database and its inputs only, so running it again is safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class InboundRow:
    seq: int
    message_id: str
    channel: str
    event_code: str | None
    received_at: str
    body_hash: str
    status: str
    response: bytes | None


@dataclass(frozen=True, slots=True)
class AcceptedRow:
    """A message acknowledged at storage, waiting to be processed (the inbox)."""

    seq: int
    message_id: str
    channel: str
    received_at: str
    body: bytes


@dataclass(slots=True)
class StayRow:
    stay_id: int
    stay_key: str
    patient_ref: str
    status: str
    state: dict[str, Any]
    created_at: str
    updated_at: str


@dataclass(slots=True)
class StayEventRow:
    inbound_seq: int
    event_code: str
    event_time: str
    resources: list[dict[str, Any]]


@dataclass(slots=True)
class OutboundRow:
    seq: int
    message_id: str
    conversation_id: str
    parent_id: str | None
    notice_key: str
    stay_id: int
    message_type: str
    dispatch_status: str
    recipient_her: str
    recipient_kind: str
    fingerprint: str
    status: str
    created_at: str
    source_inbound_seq: int | None
    payload: bytes | None = None


@dataclass(slots=True)
class NewOutbound:
    message_id: str
    conversation_id: str
    parent_id: str | None
    notice_key: str
    message_type: str
    dispatch_status: str
    recipient_her: str
    recipient_kind: str
    fingerprint: str
    status: str
    payload: bytes


@dataclass(slots=True)
class StayRecord:
    """A stay with everything derived views read: events, messages, receipts by message id, and
    the inbound message id of each event (the source of a timeline entry)."""

    stay: StayRow
    events: list[StayEventRow]
    outbound: list[OutboundRow]
    receipts: dict[str, list[dict[str, Any]]]
    inbound_ids: dict[int, str]


@dataclass(slots=True)
class ComplianceItem:
    """An overdue deadline or an escalated held message on a stay (gateway/compliance/watcher.py)."""

    stay_id: int
    rule_id: str
    episode: str
    kind: str  # overdue | escalated
    message_type: str | None
    due_at: str
    opened_at: str
    closed_at: str | None = None
    done_at: str | None = None


@dataclass(slots=True)
class Subscription:
    subscription_id: str
    her_ids: list[str]
    message_types: list[str]
    format: str
    mode: str  # push | pull
    endpoint: str | None
    secrets: list[str]  # the current secret first; a second one while rotating
    status: str  # active | disabled
    created_at: str
    certificate: str | None = None  # PEM; payloads are encrypted to it when present


class KeptSignature(NamedTuple):
    """The gateway's CMS signature over a message in one wire format (base64 DER), as first sent,
    and the SHA-256 fingerprint of the certificate that made it."""

    signature: str
    signed_by: str


@dataclass(slots=True)
class DeliveryRow:
    subscription_id: str
    outbound_seq: int
    message_id: str  # the webhook-id: the same on every retry
    attempts: int
    endpoint: str
    secrets: str  # JSON, as stored
    payload: bytes
    order_key: str
    certificate: str | None = None
    format: str = "fhir+json"  # the subscription's wire format
    kept: KeptSignature | None = None  # the CMS signature kept for the message in this format


@dataclass(slots=True)
class RenderedRow:
    """An outbound message rendered to another wire format, kept so it is rendered once."""

    message_id: str
    format: str  # kith-xml
    status: str  # valid | unvalidated | invalid | no-form
    errors: list[str]
    body: bytes | None
    created_at: str


@dataclass(slots=True)
class AuditEntry:
    at: str
    client_id: str
    organisation: str
    action: str
    subject_kind: str
    subject: str
    detail: str | None = None


class Tx(Protocol):
    """The operations one unit of work may perform, all inside one transaction."""

    def find_inbound(self, message_id: str) -> InboundRow | None: ...
    def insert_inbound(
        self,
        message_id: str,
        channel: str,
        event_code: str | None,
        received_at: str,
        body_hash: str,
        body: bytes,
        status: str,
        response: bytes | None = None,
    ) -> int | None: ...
    def finish_inbound(self, seq: int, status: str, response: bytes) -> None: ...
    def next_accepted(self) -> AcceptedRow | None: ...
    def finish_accepted(self, seq: int, status: str, outcome: bytes) -> None: ...
    def get_stay(self, stay_key: str) -> StayRow | None: ...
    def create_stay(self, stay_key: str, patient_ref: str, now: str) -> StayRow: ...
    def update_stay(self, stay_id: int, status: str, state: dict[str, Any], now: str) -> None: ...
    def add_stay_event(
        self,
        stay_id: int,
        inbound_seq: int,
        event_code: str,
        event_time: str,
        resources: list[dict[str, Any]],
    ) -> None: ...
    def stay_events(self, stay_id: int) -> list[StayEventRow]: ...
    def stay_outbound(self, stay_id: int) -> list[OutboundRow]: ...
    def insert_outbound(
        self, stay_id: int, source_inbound_seq: int | None, now: str, rows: Sequence[NewOutbound]
    ) -> None: ...
    def outbound_payload(self, message_id: str) -> bytes | None: ...
    def outbound(self, message_id: str) -> OutboundRow | None: ...
    def stay_by_id(self, stay_id: int) -> StayRow | None: ...
    def stays_of_patient(self, patient_ref: str) -> list[StayRow]: ...
    def set_stay_patient(self, stay_id: int, patient_ref: str) -> None: ...
    def enqueue_deliveries(self, rows: Sequence[NewOutbound], order_key: str, now: str) -> int: ...
    def create_subscription(self, sub: Subscription) -> None: ...
    def subscription(self, subscription_id: str) -> Subscription | None: ...
    def update_subscription(
        self, subscription_id: str, *, status: str | None = None, secrets: list[str] | None = None
    ) -> None: ...
    def release_claims(self, claimant: str | None = None) -> int: ...
    def claim_deliveries(
        self,
        now: str,
        claimant: str,
        lease_until: str,
        limit: int,
        busy: Sequence[str] = (),
        only: tuple[str, str] | None = None,
    ) -> list[DeliveryRow]: ...
    def record_attempt(
        self,
        subscription_id: str,
        outbound_seq: int,
        *,
        status: str,
        next_attempt_at: str,
        error: str | None,
        now: str,
        claimant: str,
    ) -> bool: ...
    def keep_signature(self, outbound_seq: int, fmt: str, kept: KeptSignature) -> None: ...
    def deliveries(self, subscription_id: str, status: str | None, limit: int) -> list[dict[str, Any]]: ...
    def redeliver(self, subscription_id: str, message_ids: Sequence[str] | None, now: str) -> int: ...
    def events(self, subscription_id: str, after: int, limit: int) -> list[dict[str, Any]]: ...
    def acknowledge(self, subscription_id: str, up_to: int, now: str) -> int: ...
    def add_receipt(
        self,
        message_id: str,
        status: str,
        errors: list[dict[str, str]],
        sender: str | None,
        fmt: str,
        now: str,
        body: bytes,
    ) -> bool: ...
    def receipts_for(self, message_id: str) -> list[dict[str, Any]]: ...
    def missing_receipts(self, sent_before: str, limit: int) -> list[dict[str, Any]]: ...
    def unknown_receipts(self, limit: int) -> list[dict[str, Any]]: ...
    def operational_counts(self, sent_before: str) -> tuple[dict[str, int], int, int]: ...
    def rendered(self, message_id: str, fmt: str) -> RenderedRow | None: ...
    def save_rendered(self, row: RenderedRow) -> RenderedRow: ...
    def add_audit(self, entries: Sequence[AuditEntry]) -> None: ...
    def stay_records(
        self, updated_since: str | None, stay_ids: Sequence[int] | None = None
    ) -> list[StayRecord]: ...
    def upsert_items(self, items: Sequence[ComplianceItem]) -> list[ComplianceItem]: ...
    def replace_directory(self, entries: Sequence[tuple[str, str, str]]) -> None: ...


class Reader(Protocol):
    def feed(self, recipient_her: str, after: int, limit: int) -> list[OutboundRow]: ...
    def outbound(self, message_id: str) -> OutboundRow | None: ...
    def stay_by_id(self, stay_id: int) -> StayRow | None: ...
    def stay_events(self, stay_id: int) -> list[StayEventRow]: ...
    def stay_outbound(self, stay_id: int) -> list[OutboundRow]: ...
    def stays(self, status: str | None, limit: int) -> list[StayRow]: ...
    def inbound_count(self) -> int: ...
    def accepted_count(self) -> int: ...
    def accepted_bodies(self, channel: str, limit: int) -> list[tuple[int, bytes]]: ...
    def inbound_outcome(
        self, message_id: str, with_body: bool = False
    ) -> tuple[str, bytes | None, bytes | None] | None: ...
    def directory_entries(self) -> list[tuple[str, str, str]]: ...
    def kith_inbound(self, status: str | None, limit: int) -> list[dict[str, Any]]: ...
    def inbound_list(self, status: str | None, channel: str | None, limit: int) -> list[dict[str, Any]]: ...
    def rendered(self, message_id: str, fmt: str) -> RenderedRow | None: ...
    def audit(
        self,
        *,
        client_id: str | None,
        subject_kind: str | None,
        subject: str | None,
        since: str | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]: ...
    def stay_records(
        self, updated_since: str | None, stay_ids: Sequence[int] | None = None
    ) -> list[StayRecord]: ...
    def compliance_items(
        self,
        stay_id: int | None = None,
        *,
        open_only: bool = False,
        kind: str | None = None,
        limit: int = 1000,
    ) -> list[ComplianceItem]: ...
    def open_item_stays(self) -> list[int]: ...
    def stay_ids_since(self, updated_since: str) -> list[int]: ...
    def item_states(self, stay_ids: Sequence[int]) -> dict[tuple[int, str, str, str], str | None]: ...
    def open_item_counts(self) -> dict[tuple[str, str], int]: ...


class Store(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def write(self, unit: Callable[[Tx], T]) -> T: ...
    def submit(self, unit: Callable[[Tx], T]) -> asyncio.Future[T]:
        """`write` without a coroutine: the future is done once the unit committed (or failed)."""

    async def read(self, query: Callable[[Reader], T]) -> T: ...
    def on_work(self, callback: Callable[[], None]) -> None:
        """Call back when another instance queued work (PostgreSQL); a no-op for one instance."""


class StoreUnavailable(Exception):
    """The store could not commit: our trouble, answered with transient-error / AR."""
