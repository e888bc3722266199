"""Operations metrics in the Prometheus text format (`GET /metrics`).

Counters are kept by the code that does the work; the gauges that describe stored state
(pending and dead deliveries, messages without a receipt) are read from the store at scrape time,
so they are right after a restart too.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "gateway_events_total",
            "Inbound events by channel, event code and result",
            ["channel", "event", "result"],
            registry=self.registry,
        )
        self.messages = Counter(
            "gateway_messages_total",
            "Outbound messages produced, by type and dispatch status",
            ["type", "status"],
            registry=self.registry,
        )
        self.delivery_attempts = Counter(
            "gateway_delivery_attempts_total",
            "Webhook attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.deliveries = Gauge(
            "gateway_deliveries", "Deliveries by state", ["state"], registry=self.registry
        )
        self.receipts_missing = Gauge(
            "gateway_receipts_missing",
            "Messages without a receipt after the receipt deadline",
            registry=self.registry,
        )
        self.kith_renders = Counter(
            "gateway_kith_renders_total",
            "Outbound messages rendered to KITH XML, by outcome (valid, unvalidated, invalid, no-form)",
            ["status"],
            registry=self.registry,
        )
        self.held = Gauge(
            "gateway_messages_held", "Outbound messages held back as incomplete", registry=self.registry
        )
        self.inbox = Gauge(
            "gateway_inbox",
            "Events acknowledged at storage (HL7 v2 accept ACK, FHIR respond-async), not processed yet",
            registry=self.registry,
        )

        # the deadline watcher (gateway/compliance/watcher.py): counted when first seen ...
        self.overdue = Counter(
            "gateway_deadlines_missed_total",
            "Deadlines of the rule pack's timing rules seen missed, by rule",
            ["rule"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "gateway_held_escalations_total",
            "Held messages escalated as their deadline neared, by message type",
            ["type"],
            registry=self.registry,
        )
        # ... and the ones still open, read from the store at scrape time
        self.open_items = Gauge(
            "gateway_compliance_items_open",
            "Open overdue deadlines and escalated held messages, by kind and rule",
            ["kind", "rule"],
            registry=self.registry,
        )

    def render(
        self,
        deliveries: dict[str, int],
        receipts_missing: int,
        held: int,
        open_items: dict[tuple[str, str], int] | None = None,
        inbox: int = 0,
    ) -> bytes:
        for state in ("pending", "delivered", "dead"):
            self.deliveries.labels(state).set(deliveries.get(state, 0))
        self.receipts_missing.set(receipts_missing)
        self.held.set(held)
        self.inbox.set(inbox)
        self.open_items.clear()  # a closed item's series must drop to nothing, not stay at its last count
        for (kind, rule), count in (open_items or {}).items():
            self.open_items.labels(kind, rule).set(count)
        return generate_latest(self.registry)
