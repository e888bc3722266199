"""SQL for subscriptions and deliveries (both engines). Mixed into SqlTx, so it runs in units of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from gateway.clock import as_ms
from gateway.store.base import DeliveryRow, KeptSignature, NewOutbound, Subscription
from gateway.store.cipher import Cipher

_SUB_COLS = (
    "subscription_id, her_ids, message_types, format, mode, endpoint, secrets, status, "
    "created_at, certificate"
)


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
        row[9],
    )


class DeliverySql:
    c: Any  # gateway.store.sql.Connection
    cipher: Cipher
    _skip_locked = ""  # PostgreSQL: " FOR UPDATE OF d SKIP LOCKED"

    def _serialize(self, keys: Iterable[str]) -> bool: ...  # provided by SqlTx
    def _notify(self) -> None: ...

    def create_subscription(self, sub: Subscription) -> None:
        self.c.execute(
            f"INSERT INTO subscriptions ({_SUB_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
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
                sub.certificate,
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

    def enqueue_deliveries(self, rows: Sequence[NewOutbound], order_key: str, now: str) -> int:
        """Every new outbound message, for every active subscription that wants it, numbered per
        subscription (its event number: consecutive, so a subscriber can see a gap). Returns how
        many deliveries were queued."""
        ready = [r for r in rows if r.status == "ready"]
        if not ready:
            return 0
        wanted = []
        for sub_id, her_ids, types in self.c.execute(
            "SELECT subscription_id, her_ids, message_types FROM subscriptions WHERE status = 'active'"
        ):
            hers, kinds = set(orjson.loads(her_ids)), set(orjson.loads(types))
            wanted += [
                (sub_id, r.message_id)
                for r in ready
                if r.recipient_her in hers and (not kinds or r.message_type in kinds)
            ]
        if not wanted:
            return 0
        # event numbers are max + 1: on PostgreSQL one writer per subscription until it commits,
        # so a number never becomes visible after a higher one
        self._serialize(sorted({f"subscription:{sub_id}" for sub_id, _ in wanted}))
        self.c.executemany(
            "INSERT INTO deliveries (subscription_id, outbound_seq, order_key, status, next_attempt_at, "
            "event_number) "
            "SELECT CAST(? AS TEXT), o.seq, CAST(? AS TEXT), 'pending', CAST(? AS TEXT), "
            "  (SELECT coalesce(max(d.event_number), 0) + 1 FROM deliveries d WHERE d.subscription_id = ?) "
            "FROM outbound o WHERE o.message_id = ?",
            [(sub_id, order_key, as_ms(now), sub_id, message_id) for sub_id, message_id in wanted],
        )
        self._notify()
        return len(wanted)

    def events(self, subscription_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        """A subscription's messages by event number, after a cursor (the pull feed)."""
        rows = self.c.execute(
            "SELECT d.event_number, o.message_id, o.message_type, o.dispatch_status, o.conversation_id, "
            "o.parent_id, o.recipient_her, o.created_at, d.status FROM deliveries d "
            "JOIN outbound o ON o.seq = d.outbound_seq "
            "WHERE d.subscription_id = ? AND d.event_number > ? ORDER BY d.event_number LIMIT ?",
            (subscription_id, after, limit),
        )
        keys = (
            "eventNumber",
            "messageId",
            "messageType",
            "dispatchStatus",
            "conversationId",
            "parentId",
            "recipient",
            "created",
            "status",
        )
        return [{**dict(zip(keys, r, strict=True)), "href": f"/messages/{r[1]}"} for r in rows]

    def acknowledge(self, subscription_id: str, up_to: int, now: str) -> int:
        """A pull subscriber has everything up to and including this event number."""
        cur = self.c.execute(
            "UPDATE deliveries SET status = 'delivered', delivered_at = ? "
            "WHERE subscription_id = ? AND event_number <= ? AND status = 'pending'",
            (now, subscription_id, up_to),
        )
        return cur.rowcount

    def add_receipt(
        self,
        message_id: str,
        status: str,
        errors: list[dict[str, str]],
        sender: str | None,
        fmt: str,
        now: str,
        body: bytes,
    ) -> bool:
        """Record a receipt; True when it answers one of our messages (an unknown one is kept too)."""
        known = self.c.execute("SELECT 1 FROM outbound WHERE message_id = ?", (message_id,)).fetchone()
        self.c.execute(
            "INSERT INTO receipts (message_id, known, status, errors, sender, format, received_at, body) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (
                message_id,
                1 if known else 0,
                status,
                orjson.dumps(errors),
                sender,
                fmt,
                now,
                self.cipher.seal(body, f"receipts.body|{message_id}|{now}"),
            ),
        )
        return known is not None

    def receipts_for(self, message_id: str) -> list[dict[str, Any]]:
        rows = self.c.execute(
            "SELECT status, errors, sender, format, received_at FROM receipts WHERE message_id = ? "
            "ORDER BY receipt_id",
            (message_id,),
        )
        return [
            {"status": r[0], "errors": orjson.loads(r[1]), "sender": r[2], "format": r[3], "received": r[4]}
            for r in rows
        ]

    def missing_receipts(self, sent_before: str, limit: int) -> list[dict[str, Any]]:
        """Messages out longer than the receipt deadline with no receipt: the sender must treat
        them as not received (HIS 80415: 96 hours)."""
        rows = self.c.execute(
            "SELECT o.message_id, o.message_type, o.recipient_her, o.created_at FROM outbound o "
            "WHERE o.status = 'ready' AND o.created_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.message_id = o.message_id) "
            "ORDER BY o.seq LIMIT ?",
            (sent_before, limit),
        )
        keys = ("messageId", "messageType", "recipient", "sent")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def operational_counts(self, sent_before: str) -> tuple[dict[str, int], int, int]:
        """Deliveries by state, messages past the receipt deadline without one, held messages."""
        deliveries = dict(
            self.c.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall()
        )
        missing = self.c.execute(
            "SELECT count(*) FROM outbound o WHERE o.status = 'ready' AND o.created_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.message_id = o.message_id)",
            (sent_before,),
        ).fetchone()[0]
        held = self.c.execute("SELECT count(*) FROM outbound WHERE status = 'held'").fetchone()[0]
        return deliveries, int(missing), int(held)

    def unknown_receipts(self, limit: int) -> list[dict[str, Any]]:
        rows = self.c.execute(
            "SELECT message_id, status, sender, format, received_at FROM receipts WHERE known = 0 "
            "ORDER BY receipt_id LIMIT ?",
            (limit,),
        )
        keys = ("messageId", "status", "sender", "format", "received")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def release_claims(self, claimant: str | None = None) -> int:
        """Give back one claimant's claims (an instance stopping), or all of them (a store only one
        instance can use, SQLite, at its start: claims left by a process that died are void)."""
        return self.c.execute(
            "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL "
            "WHERE claimed_by IS NOT NULL AND (CAST(? AS TEXT) IS NULL OR claimed_by = ?)",
            (claimant, claimant),
        ).rowcount

    def claim_deliveries(
        self,
        now: str,
        claimant: str,
        lease_until: str,
        limit: int,
        busy: Sequence[str] = (),
        only: tuple[str, str] | None = None,
    ) -> list[DeliveryRow]:
        """Claim the next pending delivery of each (subscription, patient) whose time has come,
        except for the `busy` subscriptions (the claimant has as many of theirs in flight as it
        sends at once: more would only wait, and hold room others could use); `only` narrows it
        to one (subscription, order key).

        Only the oldest pending message of a patient is ever due, and a claimed one stays claimed
        until its attempt is recorded or its lease runs out (an instance that died), so one
        patient's messages reach a subscriber in order, one at a time, whichever instance sends
        them; a patient whose message keeps failing holds back no one else.
        """
        rows = self.c.execute(
            "SELECT d.subscription_id, d.outbound_seq, o.message_id, d.attempts, s.endpoint, s.secrets, "
            "o.payload, d.order_key, s.certificate, s.format, g.signature, g.signed_by FROM deliveries d "
            "JOIN outbound o ON o.seq = d.outbound_seq "
            "JOIN subscriptions s ON s.subscription_id = d.subscription_id AND s.status = 'active' "
            "AND s.mode = 'push' "
            "LEFT JOIN outbound_signatures g ON g.outbound_seq = d.outbound_seq AND g.format = s.format "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= ? "
            "AND (d.lease_until IS NULL OR d.lease_until <= ?) AND d.outbound_seq = ("
            "  SELECT min(d2.outbound_seq) FROM deliveries d2 "
            "  WHERE d2.subscription_id = d.subscription_id "
            "  AND d2.order_key = d.order_key AND d2.status = 'pending') "
            + (f"AND d.subscription_id NOT IN ({', '.join('?' * len(busy))}) " if busy else "")
            + ("AND d.subscription_id = ? AND d.order_key = ? " if only else "")
            + f"ORDER BY d.next_attempt_at, d.outbound_seq LIMIT ?{self._skip_locked}",
            (now, now, *busy, *(only or ()), limit),
        ).fetchall()
        self.c.executemany(
            "UPDATE deliveries SET claimed_by = ?, lease_until = ? "
            "WHERE subscription_id = ? AND outbound_seq = ?",
            [(claimant, lease_until, r[0], r[1]) for r in rows],
        )
        return [
            DeliveryRow(
                *r[:6],
                self.cipher.open(r[6], f"outbound.payload|{r[2]}"),
                *r[7:10],
                None if r[10] is None else KeptSignature(r[10], r[11]),
            )
            for r in rows
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
        claimant: str,
    ) -> bool:
        """The outcome of an attempt, if the claim is still this claimant's (an instance whose lease
        ran out while it sent has been overtaken: the other instance's outcome counts)."""
        return (
            self.c.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
                "last_error = ?, "
                "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END, "
                "claimed_by = NULL, lease_until = NULL "
                "WHERE subscription_id = ? AND outbound_seq = ? AND claimed_by = ?",
                (status, next_attempt_at, error, status, now, subscription_id, outbound_seq, claimant),
            ).rowcount
            > 0
        )

    def keep_signature(self, outbound_seq: int, fmt: str, kept: KeptSignature) -> None:
        """The CMS signature an attempt made and sent, for the retries and the other subscribers
        of the format. The first kept stays (another subscriber's attempt may have signed again
        once the signer's cache let it go), unless a new certificate made this one."""
        self.c.execute(
            "INSERT INTO outbound_signatures (outbound_seq, format, signed_by, signature) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (outbound_seq, format) DO UPDATE "
            "SET signed_by = excluded.signed_by, signature = excluded.signature "
            "WHERE outbound_signatures.signed_by <> excluded.signed_by",
            (outbound_seq, fmt, kept.signed_by, kept.signature),
        )

    def deliveries(self, subscription_id: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        rows = self.c.execute(
            "SELECT o.message_id, o.message_type, d.status, d.attempts, d.last_error, d.next_attempt_at, "
            "d.delivered_at FROM deliveries d JOIN outbound o ON o.seq = d.outbound_seq "
            "WHERE d.subscription_id = ? AND (CAST(? AS TEXT) IS NULL OR d.status = ?) "
            "ORDER BY d.outbound_seq LIMIT ?",
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
                (as_ms(now), subscription_id),
            )
            return cur.rowcount
        total = 0
        for message_id in message_ids:
            cur = self.c.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE subscription_id = ? AND status = 'dead' "
                "AND outbound_seq = (SELECT seq FROM outbound WHERE message_id = ?)",
                (as_ms(now), subscription_id, message_id),
            )
            total += cur.rowcount
        return total
