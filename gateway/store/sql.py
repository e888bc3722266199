"""The gateway's SQL, shared by both engines (SQLite and PostgreSQL).

Statements use `?` placeholders and SQL that both engines read the same way (RETURNING,
ON CONFLICT, CAST(? AS TEXT) IS NULL for optional filters). What differs between the engines is
behind two hooks, no-ops here: `_serialize` (PostgreSQL takes transaction-level advisory locks so
that concurrent instances cannot interleave on one stay, feed or subscription; SQLite has one
writer) and `_notify` (PostgreSQL tells the other instances that work was queued); and the claim
of due deliveries ends in `_skip_locked` (sql_delivery.py), empty here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import orjson

from gateway.store.base import AcceptedRow, InboundRow, NewOutbound, OutboundRow, StayEventRow, StayRow
from gateway.store.cipher import Cipher, NoCipher
from gateway.store.sql_audit import AuditSql
from gateway.store.sql_columns import OUTBOUND_COLS, STAY_COLS
from gateway.store.sql_compliance import ComplianceSql
from gateway.store.sql_delivery import DeliverySql
from gateway.store.sql_rendered import RenderedSql


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of the DB-API both engines give the SQL: sqlite3's own, or postgres.PgConnection."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...


def _outbound(row: Sequence[Any], payload: bytes | None = None) -> OutboundRow:
    return OutboundRow(*row, payload=payload)


class SqlTx(DeliverySql, RenderedSql, AuditSql, ComplianceSql):
    """The Tx of gateway.store.base over one connection, inside the transaction its store opened.

    Patient data columns go through the cipher (gateway/store/cipher.py), each bound to its row.
    """

    _lock_next = ""  # PostgreSQL: " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: Connection, cipher: Cipher | None = None) -> None:
        self.c = conn
        self.cipher: Cipher = cipher or NoCipher()

    def _serialize(self, keys: Iterable[str]) -> bool:
        """Hold these keys until the transaction ends (PostgreSQL); True when it did, so that rows
        read before may have changed while it waited. SQLite has one writer: never."""
        return False

    def _notify(self) -> None:
        """Tell other instances that deliveries or messages were queued (PostgreSQL)."""

    def _stay(self, row: Sequence[Any]) -> StayRow:
        state = orjson.loads(self.cipher.open(row[4], f"stays.state|{row[0]}")) if row[4] else {}
        return StayRow(row[0], row[1], row[2], row[3], state, row[5], row[6])

    def find_inbound(self, message_id: str) -> InboundRow | None:
        row = self.c.execute(
            "SELECT seq, message_id, channel, event_code, received_at, body_hash, status, response "
            "FROM inbound WHERE message_id = ?",
            (message_id,),
        ).fetchone()
        return InboundRow(*row) if row else None

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
    ) -> int | None:
        """The new row's seq; None when a message with this id is already stored (a duplicate:
        one statement either way, so the usual case costs no lookup first)."""
        row = self.c.execute(
            "INSERT INTO inbound (message_id, channel, event_code, received_at, body_hash, body, status, "
            "response) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING RETURNING seq",
            (
                message_id,
                channel,
                event_code,
                received_at,
                body_hash,
                self.cipher.seal(body, f"inbound.body|{message_id}"),
                status,
                response,
            ),
        ).fetchone()
        return int(row[0]) if row else None

    def finish_inbound(self, seq: int, status: str, response: bytes) -> None:
        self.c.execute("UPDATE inbound SET status = ?, response = ? WHERE seq = ?", (status, response, seq))

    def next_accepted(self) -> AcceptedRow | None:
        """The oldest message acknowledged at storage and not processed yet, held by this
        transaction (PostgreSQL: one an instance is processing is skipped, not waited for)."""
        row = self.c.execute(
            "SELECT seq, message_id, channel, received_at, body FROM inbound "
            f"WHERE status = 'accepted' ORDER BY seq LIMIT 1{self._lock_next}"
        ).fetchone()
        if row is None:
            return None
        body = self.cipher.open(row[4], f"inbound.body|{row[1]}")
        return AcceptedRow(row[0], row[1], row[2], row[3], body)

    def finish_accepted(self, seq: int, status: str, outcome: bytes) -> None:
        """Processed (or rejected by processing): `outcome` is the application acknowledgement;
        the accept acknowledgement already sent stays the answer to a duplicate."""
        self.c.execute("UPDATE inbound SET status = ?, outcome = ? WHERE seq = ?", (status, outcome, seq))

    def get_stay(self, stay_key: str) -> StayRow | None:
        self._serialize([f"stay:{stay_key}"])  # one unit at a time per stay, new or not
        row = self.c.execute(
            f"SELECT {STAY_COLS} FROM stays WHERE stay_key = ?",
            (stay_key,),
        ).fetchone()
        return self._stay(row) if row else None

    def create_stay(self, stay_key: str, patient_ref: str, now: str) -> StayRow:
        row = self.c.execute(
            "INSERT INTO stays (stay_key, patient_ref, status, state, created_at, updated_at) "
            "VALUES (?, ?, 'new', ?, ?, ?) RETURNING stay_id",
            (stay_key, patient_ref, b"{}", now, now),
        ).fetchone()
        return StayRow(int(row[0]), stay_key, patient_ref, "new", {}, now, now)

    def update_stay(self, stay_id: int, status: str, state: dict[str, Any], now: str) -> None:
        self.c.execute(
            "UPDATE stays SET status = ?, state = ?, updated_at = ? WHERE stay_id = ?",
            (status, self.cipher.seal(orjson.dumps(state), f"stays.state|{stay_id}"), now, stay_id),
        )

    def add_stay_event(
        self,
        stay_id: int,
        inbound_seq: int,
        event_code: str,
        event_time: str,
        resources: list[dict[str, Any]],
    ) -> None:
        self.c.execute(
            "INSERT INTO stay_events (stay_id, inbound_seq, event_code, event_time, resources) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                stay_id,
                inbound_seq,
                event_code,
                event_time,
                self.cipher.seal(orjson.dumps(resources), f"stay_events|{stay_id}|{inbound_seq}"),
            ),
        )

    def stay_events(self, stay_id: int) -> list[StayEventRow]:
        return [
            StayEventRow(
                r[0], r[1], r[2], orjson.loads(self.cipher.open(r[3], f"stay_events|{stay_id}|{r[0]}"))
            )
            for r in self.c.execute(
                "SELECT inbound_seq, event_code, event_time, resources FROM stay_events "
                "WHERE stay_id = ? ORDER BY event_time, inbound_seq",
                (stay_id,),
            )
        ]

    def stay_outbound(self, stay_id: int) -> list[OutboundRow]:
        return [
            _outbound(r)
            for r in self.c.execute(
                f"SELECT {OUTBOUND_COLS} FROM outbound WHERE stay_id = ? ORDER BY seq", (stay_id,)
            )
        ]

    def insert_outbound(
        self, stay_id: int, source_inbound_seq: int | None, now: str, rows: Sequence[NewOutbound]
    ) -> None:
        # A recipient's feed is read by seq after a cursor: a seq must never become visible after
        # a higher one, so on PostgreSQL writers to one feed take turns until they commit.
        self._serialize(sorted({f"feed:{r.recipient_her}" for r in rows}))
        if any(r.status == "ready" for r in rows):
            self._notify()
        self.c.executemany(
            "INSERT INTO outbound (message_id, conversation_id, parent_id, notice_key, stay_id, "
            "message_type, dispatch_status, recipient_her, recipient_kind, fingerprint, status, "
            "created_at, source_inbound_seq, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    r.message_id,
                    r.conversation_id,
                    r.parent_id,
                    r.notice_key,
                    stay_id,
                    r.message_type,
                    r.dispatch_status,
                    r.recipient_her,
                    r.recipient_kind,
                    r.fingerprint,
                    r.status,
                    now,
                    source_inbound_seq,
                    self.cipher.seal(r.payload, f"outbound.payload|{r.message_id}"),
                )
                for r in rows
            ],
        )

    def outbound_payload(self, message_id: str) -> bytes | None:
        row = self.c.execute("SELECT payload FROM outbound WHERE message_id = ?", (message_id,)).fetchone()
        return self.cipher.open(row[0], f"outbound.payload|{message_id}") if row else None

    def stays_of_patient(self, patient_ref: str) -> list[StayRow]:
        def read() -> list[Any]:
            return self.c.execute(
                f"SELECT {STAY_COLS} FROM stays WHERE patient_ref = ? ORDER BY stay_id", (patient_ref,)
            ).fetchall()

        rows = read()
        if self._serialize(sorted(f"stay:{r[1]}" for r in rows)):
            rows = read()  # as they are now that they are ours
        return [self._stay(r) for r in rows]

    def set_stay_patient(self, stay_id: int, patient_ref: str) -> None:
        self.c.execute("UPDATE stays SET patient_ref = ? WHERE stay_id = ?", (patient_ref, stay_id))

    def outbound(self, message_id: str) -> OutboundRow | None:
        row = self.c.execute(
            f"SELECT {OUTBOUND_COLS}, payload FROM outbound WHERE message_id = ?", (message_id,)
        ).fetchone()
        if row is None:
            return None
        return _outbound(row[:-1], self.cipher.open(row[-1], f"outbound.payload|{message_id}"))

    def stay_by_id(self, stay_id: int) -> StayRow | None:
        def read() -> Any:
            return self.c.execute(f"SELECT {STAY_COLS} FROM stays WHERE stay_id = ?", (stay_id,)).fetchone()

        row = read()
        if row is not None and self._serialize([f"stay:{row[1]}"]):
            row = read()  # as it is now that it is ours
        return self._stay(row) if row else None

    def replace_directory(self, entries: Sequence[tuple[str, str, str]]) -> None:
        self._serialize(["directory"])  # instances starting together load it one after the other
        self.c.execute("DELETE FROM directory")
        self.c.executemany("INSERT INTO directory (kind, key, body) VALUES (?, ?, ?)", entries)


class SqlReader(SqlTx):
    """Read-only queries for the HTTP side and the background tasks, on a connection of their own
    (SQLite: WAL, never blocks the writer; PostgreSQL: a read-only snapshot, no locks)."""

    def feed(self, recipient_her: str, after: int, limit: int) -> list[OutboundRow]:
        return [
            _outbound(r)
            for r in self.c.execute(
                f"SELECT {OUTBOUND_COLS} FROM outbound WHERE recipient_her = ? AND seq > ? "
                "AND status = 'ready' ORDER BY seq LIMIT ?",
                (recipient_her, after, limit),
            )
        ]

    def stays(self, status: str | None, limit: int) -> list[StayRow]:
        return [
            self._stay(r)
            for r in self.c.execute(
                f"SELECT {STAY_COLS} FROM stays WHERE (CAST(? AS TEXT) IS NULL OR status = ?) "
                "ORDER BY updated_at DESC LIMIT ?",
                (status, status, limit),
            )
        ]

    def inbound_count(self) -> int:
        return int(self.c.execute("SELECT count(*) FROM inbound").fetchone()[0])

    def accepted_count(self) -> int:
        """Messages acknowledged at storage and still waiting to be processed."""
        return int(self.c.execute("SELECT count(*) FROM inbound WHERE status = 'accepted'").fetchone()[0])

    def accepted_bodies(self, channel: str, limit: int) -> list[tuple[int, bytes]]:
        """The oldest messages of a channel waiting to be processed: (seq, body)."""
        rows = self.c.execute(
            "SELECT seq, message_id, body FROM inbound WHERE status = 'accepted' AND channel = ? "
            "ORDER BY seq LIMIT ?",
            (channel, limit),
        ).fetchall()
        return [(seq, self.cipher.open(body, f"inbound.body|{mid}")) for seq, mid, body in rows]

    def inbound_list(self, status: str | None, channel: str | None, limit: int) -> list[dict[str, Any]]:
        """Inbound events by status and channel, newest first; never the body. For one that
        processing refused after it was acknowledged, the answer processing gave (its texts name
        fields and rules, never values)."""
        rows = self.c.execute(
            "SELECT message_id, channel, event_code, received_at, status, "
            "CASE WHEN status IN ('rejected', 'failed') THEN outcome END FROM inbound "
            "WHERE (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS TEXT) IS NULL OR channel = ?) "
            "ORDER BY seq DESC LIMIT ?",
            (status, status, channel, channel, limit),
        )
        keys = ("id", "channel", "event", "received", "status", "answer")
        return [
            dict(zip(keys, (*r[:5], r[5].decode("utf-8", "replace") if r[5] else None), strict=True))
            for r in rows
        ]

    def kith_inbound(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        """Inbound KITH documents (AppRec, Dialogmelding) by outcome, newest first; never the body."""
        return [
            {"id": e["id"], "messageType": e["event"], "received": e["received"], "status": e["status"]}
            for e in self.inbound_list(status, "kith", limit)
        ]

    def inbound_outcome(
        self, message_id: str, with_body: bool = False
    ) -> tuple[str, bytes | None, bytes | None] | None:
        """An inbound message's status, the answer processing produced (else the one sent), and
        with `with_body` the message itself (to see whose it is)."""
        row = self.c.execute(
            "SELECT status, coalesce(outcome, response), body FROM inbound WHERE message_id = ?",
            (message_id,),
        ).fetchone()
        if row is None:
            return None
        body = self.cipher.open(row[2], f"inbound.body|{message_id}") if with_body else None
        return row[0], row[1], body

    def directory_entries(self) -> list[tuple[str, str, str]]:
        return list(self.c.execute("SELECT kind, key, body FROM directory ORDER BY kind, key"))
