"""SQLite store: WAL, synchronous=FULL, group commit (see SqliteStore).

Each unit of work runs inside its own SAVEPOINT: one failing unit rolls back alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson
import structlog

from gateway.store.base import (
    InboundRow,
    NewOutbound,
    OutboundRow,
    StayEventRow,
    StayRow,
    StoreUnavailable,
)
from gateway.store.cipher import Cipher, NoCipher
from gateway.store.sqlite_audit import AuditSql
from gateway.store.sqlite_compliance import ComplianceSql
from gateway.store.sqlite_delivery import DeliverySql
from gateway.store.sqlite_rendered import RenderedSql

T = TypeVar("T")
log = structlog.get_logger("store")

MAX_BATCH = 256
CLOSE_SECONDS = 5.0
_STAY_COLS = "stay_id, stay_key, patient_ref, status, state, created_at, updated_at"
_OUTBOUND_COLS = (
    "seq, message_id, conversation_id, parent_id, notice_key, stay_id, message_type, "
    "dispatch_status, recipient_her, recipient_kind, fingerprint, status, created_at, "
    "source_inbound_seq"
)


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("gateway.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    for version, sql in _migrations():
        if version > current:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
            conn.execute("COMMIT")
            current = version
    return current


def _split_sql(sql: str) -> list[str]:
    """Statements of a migration script, split where SQLite itself says a statement is complete."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in current.splitlines()
    ):
        raise ValueError("migration ends inside a statement")
    return statements


def _outbound(row: Sequence[Any], payload: bytes | None = None) -> OutboundRow:
    return OutboundRow(*row, payload=payload)


class SqliteTx(DeliverySql, RenderedSql, AuditSql, ComplianceSql):
    """The Tx of gateway.store.base over one sqlite3 connection.

    Patient data columns go through the cipher (gateway/store/cipher.py), each bound to its row.
    """

    def __init__(self, conn: sqlite3.Connection, cipher: Cipher | None = None) -> None:
        self.c = conn
        self.cipher: Cipher = cipher or NoCipher()

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
    ) -> int:
        cur = self.c.execute(
            "INSERT INTO inbound (message_id, channel, event_code, received_at, body_hash, body, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                channel,
                event_code,
                received_at,
                body_hash,
                self.cipher.seal(body, f"inbound.body|{message_id}"),
                status,
            ),
        )
        return int(cur.lastrowid or 0)

    def finish_inbound(self, seq: int, status: str, response: bytes) -> None:
        self.c.execute("UPDATE inbound SET status = ?, response = ? WHERE seq = ?", (status, response, seq))

    def get_stay(self, stay_key: str) -> StayRow | None:
        row = self.c.execute(
            f"SELECT {_STAY_COLS} FROM stays WHERE stay_key = ?",
            (stay_key,),
        ).fetchone()
        return self._stay(row) if row else None

    def create_stay(self, stay_key: str, patient_ref: str, now: str) -> StayRow:
        cur = self.c.execute(
            "INSERT INTO stays (stay_key, patient_ref, status, state, created_at, updated_at) "
            "VALUES (?, ?, 'new', '{}', ?, ?)",
            (stay_key, patient_ref, now, now),
        )
        return StayRow(int(cur.lastrowid or 0), stay_key, patient_ref, "new", {}, now, now)

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
                f"SELECT {_OUTBOUND_COLS} FROM outbound WHERE stay_id = ? ORDER BY seq", (stay_id,)
            )
        ]

    def insert_outbound(
        self, stay_id: int, source_inbound_seq: int | None, now: str, rows: Sequence[NewOutbound]
    ) -> None:
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
        return [
            self._stay(r)
            for r in self.c.execute(
                f"SELECT {_STAY_COLS} FROM stays WHERE patient_ref = ? ORDER BY stay_id",
                (patient_ref,),
            )
        ]

    def set_stay_patient(self, stay_id: int, patient_ref: str) -> None:
        self.c.execute("UPDATE stays SET patient_ref = ? WHERE stay_id = ?", (patient_ref, stay_id))

    def outbound(self, message_id: str) -> OutboundRow | None:
        row = self.c.execute(
            f"SELECT {_OUTBOUND_COLS}, payload FROM outbound WHERE message_id = ?", (message_id,)
        ).fetchone()
        if row is None:
            return None
        return _outbound(row[:-1], self.cipher.open(row[-1], f"outbound.payload|{message_id}"))

    def stay_by_id(self, stay_id: int) -> StayRow | None:
        row = self.c.execute(
            f"SELECT {_STAY_COLS} FROM stays WHERE stay_id = ?",
            (stay_id,),
        ).fetchone()
        return self._stay(row) if row else None

    def kith_inbound(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        """Inbound KITH documents (AppRec, Dialogmelding) by outcome, newest first; never the body."""
        rows = self.c.execute(
            "SELECT message_id, event_code, received_at, status FROM inbound WHERE channel = 'kith' "
            "AND (? IS NULL OR status = ?) ORDER BY seq DESC LIMIT ?",
            (status, status, limit),
        )
        keys = ("id", "messageType", "received", "status")
        return [dict(zip(keys, r, strict=True)) for r in rows]


class SqliteReader(SqliteTx):
    """Read-only queries for the HTTP side; runs on its own connection (WAL: never blocks the writer)."""

    def feed(self, recipient_her: str, after: int, limit: int) -> list[OutboundRow]:
        return [
            _outbound(r)
            for r in self.c.execute(
                f"SELECT {_OUTBOUND_COLS} FROM outbound WHERE recipient_her = ? AND seq > ? "
                "AND status = 'ready' ORDER BY seq LIMIT ?",
                (recipient_her, after, limit),
            )
        ]

    def stays(self, status: str | None, limit: int) -> list[StayRow]:
        return [
            self._stay(r)
            for r in self.c.execute(
                f"SELECT {_STAY_COLS} FROM stays WHERE (? IS NULL OR status = ?) "
                "ORDER BY updated_at DESC LIMIT ?",
                (status, status, limit),
            )
        ]

    def inbound_count(self) -> int:
        return int(self.c.execute("SELECT count(*) FROM inbound").fetchone()[0])

    def directory_entries(self) -> list[tuple[str, str, str]]:
        return list(self.c.execute("SELECT kind, key, body FROM directory ORDER BY kind, key"))


class SqliteStore:
    """Store backed by one SQLite file.

    Units of work and their COMMIT run on the event loop thread, one batch at a time; units
    that arrive while a batch runs form the next one, so one fsync acknowledges many events
    (group commit). COMMIT was first run on a helper thread: measured, it took five times
    longer there (the thread waits for the GIL after fsync while the loop is busy) than the
    loop is blocked by running it inline (docs/PERFORMANCE.md).
    """

    def __init__(self, path: Path, cipher: Cipher | None = None) -> None:
        self.path = path
        self.cipher: Cipher = cipher or NoCipher()
        self._conn: sqlite3.Connection | None = None
        self._tx: SqliteTx | None = None
        self._pending: list[tuple[Callable[[SqliteTx], Any], asyncio.Future[Any]]] = []
        self._wake: asyncio.Event | None = None
        self._batcher: asyncio.Task[None] | None = None
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-read")
        self._local = threading.local()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path)
        migrate(self._conn)
        self._tx = SqliteTx(self._conn, self.cipher)
        self._wake = asyncio.Event()
        self._batcher = asyncio.create_task(self._run_batches(), name="sqlite-batcher")

    async def close(self) -> None:
        if self._batcher is not None:
            deadline = asyncio.get_running_loop().time() + CLOSE_SECONDS
            while self._pending and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            for _, future in self._pending:  # never leave a caller waiting forever
                _settle(future, None, StoreUnavailable("store closed"))
            self._pending = []
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
            self._batcher = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._readers.shutdown(wait=True)

    async def write(self, unit: Callable[[SqliteTx], T]) -> T:
        if self._batcher is None or self._wake is None:
            raise StoreUnavailable("store is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((unit, future))
        self._wake.set()
        return await future

    async def read(self, query: Callable[[SqliteReader], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, query)

    async def replace_directory(self, entries: Sequence[tuple[str, str, str]]) -> None:
        def unit(tx: SqliteTx) -> None:
            tx.c.execute("DELETE FROM directory")
            tx.c.executemany("INSERT INTO directory (kind, key, body) VALUES (?, ?, ?)", entries)

        await self.write(unit)

    def _run_read(self, query: Callable[[SqliteReader], T]) -> T:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = SqliteReader(_connect(self.path, readonly=True), self.cipher)
        return query(reader)

    async def _run_batches(self) -> None:
        assert self._wake is not None and self._conn is not None and self._tx is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            if self._pending:
                self._wake.set()
            if not batch:
                continue
            try:
                outcomes = self._run_units(self._conn, self._tx, batch)
                self._conn.execute("COMMIT")
            except Exception as exc:  # the batcher must outlive any batch: fail these, keep serving
                log.error("store_batch_failed", error=type(exc).__name__, units=len(batch))
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                failure = StoreUnavailable(f"commit failed: {type(exc).__name__}")
                outcomes = [(future, None, failure) for _, future in batch]
            for future, result, error in outcomes:
                _settle(future, result, error)

    @staticmethod
    def _run_units(
        conn: sqlite3.Connection,
        tx: SqliteTx,
        batch: list[tuple[Callable[[SqliteTx], Any], asyncio.Future[Any]]],
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            failure = StoreUnavailable(f"cannot begin: {type(exc).__name__}")
            return [(future, None, failure) for _, future in batch]
        for unit, future in batch:
            conn.execute("SAVEPOINT unit")
            try:
                result = unit(tx)
            except Exception as exc:  # the unit's own failure: undo it alone, report it to its caller
                conn.execute("ROLLBACK TO unit")
                conn.execute("RELEASE unit")
                outcomes.append((future, None, exc))
            else:
                conn.execute("RELEASE unit")
                outcomes.append((future, result, None))
        return outcomes


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
