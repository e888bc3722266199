"""SQL for subscriptions and deliveries (SQLite). Mixed into SqliteTx, so it runs in units of work."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.store.base import DeliveryRow, NewOutbound, Subscription

_SUB_COLS = "subscription_id, her_ids, message_types, format, mode, endpoint, secrets, status, created_at"


def _subscription(row: Sequence[Any]) -> Subscription:
    return Subscription(
        row[0],
        orjson.loads(row[1]),
        orjson.loads(row[2]),
        row[3],
        row[4],
        row[5],
        orjson.loads(row[6]),
        row[7],
        row[8],
    )


class DeliverySql:
    c: sqlite3.Connection

    def create_subscription(self, sub: Subscription) -> None:
        self.c.execute(
            f"INSERT INTO subscriptions ({_SUB_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                sub.subscription_id,
                orjson.dumps(sub.her_ids),
                orjson.dumps(sub.message_types),
                sub.format,
                sub.mode,
                sub.endpoint,
                orjson.dumps(sub.secrets),
                sub.status,
                sub.created_at,
            ),
        )

    def subscription(self, subscription_id: str) -> Subscription | None:
        row = self.c.execute(
            f"SELECT {_SUB_COLS} FROM subscriptions WHERE subscription_id = ?", (subscription_id,)
        ).fetchone()
        return _subscription(row) if row else None

    def update_subscription(
        self, subscription_id: str, *, status: str | None = None, secrets: list[str] | None = None
    ) -> None:
        if status is not None:
            self.c.execute(
                "UPDATE subscriptions SET status = ? WHERE subscription_id = ?", (status, subscription_id)
            )
        if secrets is not None:
            self.c.execute(
                "UPDATE subscriptions SET secrets = ? WHERE subscription_id = ?",
                (orjson.dumps(secrets), subscription_id),
            )

    def enqueue_deliveries(self, rows: Sequence[NewOutbound], order_key: str, now: str) -> None:
        """Every new outbound message, for every active push subscription that wants it."""
        self.c.executemany(
            "INSERT INTO deliveries (subscription_id, outbound_seq, order_key, status, next_attempt_at) "
            "SELECT s.subscription_id, o.seq, ?, 'pending', ? FROM outbound o JOIN subscriptions s "
            "ON s.status = 'active' AND s.mode = 'push' "
            "WHERE o.message_id = ? "
            "AND EXISTS (SELECT 1 FROM json_each(s.her_ids) WHERE value = o.recipient_her) "
            "AND (json_array_length(s.message_types) = 0 "
            "     OR EXISTS (SELECT 1 FROM json_each(s.message_types) WHERE value = o.message_type))",
            [(order_key, now, r.message_id) for r in rows if r.status == "ready"],
        )

    def due_deliveries(self, now: str, limit: int) -> list[DeliveryRow]:
        """The next pending delivery of each (subscription, patient) whose time has come.

        Only the oldest pending message of a patient is ever due, so one patient's messages
        reach a subscriber in order, and a patient whose message keeps failing holds back no one else.
        """
        return [
            DeliveryRow(*r)
            for r in self.c.execute(
                "SELECT d.subscription_id, d.outbound_seq, o.message_id, d.attempts, s.endpoint, s.secrets, "
                "o.payload, d.order_key FROM deliveries d "
                "JOIN outbound o ON o.seq = d.outbound_seq "
                "JOIN subscriptions s ON s.subscription_id = d.subscription_id AND s.status = 'active' "
                "WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND d.outbound_seq = ("
                "  SELECT min(d2.outbound_seq) FROM deliveries d2 "
                "  WHERE d2.subscription_id = d.subscription_id "
                "  AND d2.order_key = d.order_key AND d2.status = 'pending') "
                "ORDER BY d.next_attempt_at, d.outbound_seq LIMIT ?",
                (now, limit),
            )
        ]

    def record_attempt(
        self,
        subscription_id: str,
        outbound_seq: int,
        *,
        status: str,
        next_attempt_at: str,
        error: str | None,
        now: str,
    ) -> None:
        self.c.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, "
            "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END "
            "WHERE subscription_id = ? AND outbound_seq = ?",
            (status, next_attempt_at, error, status, now, subscription_id, outbound_seq),
        )

    def deliveries(self, subscription_id: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        rows = self.c.execute(
            "SELECT o.message_id, o.message_type, d.status, d.attempts, d.last_error, d.next_attempt_at, "
            "d.delivered_at FROM deliveries d JOIN outbound o ON o.seq = d.outbound_seq "
            "WHERE d.subscription_id = ? AND (? IS NULL OR d.status = ?) ORDER BY d.outbound_seq LIMIT ?",
            (subscription_id, status, status, limit),
        )
        keys = ("messageId", "messageType", "status", "attempts", "lastError", "nextAttempt", "deliveredAt")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def redeliver(self, subscription_id: str, message_ids: Sequence[str] | None, now: str) -> int:
        """Dead deliveries back to pending, with a fresh attempt count; all of them when no ids are given."""
        if message_ids is None:
            cur = self.c.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE subscription_id = ? AND status = 'dead'",
                (now, subscription_id),
            )
            return cur.rowcount
        total = 0
        for message_id in message_ids:
            cur = self.c.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE subscription_id = ? AND status = 'dead' "
                "AND outbound_seq = (SELECT seq FROM outbound WHERE message_id = ?)",
                (now, subscription_id, message_id),
            )
            total += cur.rowcount
        return total
