"""SQLite store: WAL, synchronous=FULL, group commit (see SqliteStore).

Each unit of work runs inside its own SAVEPOINT: one failing unit rolls back alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import structlog

from gateway.store.base import StoreUnavailable
from gateway.store.cipher import Cipher, NoCipher
from gateway.store.sql import SqlReader, SqlTx

T = TypeVar("T")
log = structlog.get_logger("store")

MAX_BATCH = 256
CLOSE_SECONDS = 5.0


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


class SqliteStore:
    """Store backed by one SQLite file.

    Units of work run on the event loop thread, one batch at a time; units that arrive while a
    batch commits form the next one, so one fsync acknowledges many events (group commit). The
    COMMIT, which is mostly the fsync of the WAL, runs on a writer thread of its own: SQLite
    releases the GIL while it waits for the disk, so the loop keeps serving sockets and the next
    batch gathers meanwhile. Measured under the FHIR respond-async flood, COMMIT on the loop
    blocked it for two thirds of its wall time (docs/PERFORMANCE.md).
    """

    def __init__(self, path: Path, cipher: Cipher | None = None) -> None:
        self.path = path
        self.cipher: Cipher = cipher or NoCipher()
        self._conn: sqlite3.Connection | None = None
        self._tx: SqlTx | None = None
        self._pending: list[tuple[Callable[[SqlTx], Any], asyncio.Future[Any]]] = []
        self._wake: asyncio.Event | None = None
        self._batcher: asyncio.Task[None] | None = None
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-read")
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        self._stopping = False
        self._local = threading.local()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = _connect(self.path)
        migrate(self._conn)
        self._tx = SqlTx(self._conn, self.cipher)
        # one process uses a SQLite file: claims left by a process that died are void
        released = self._tx.release_claims()
        if released:
            log.info("delivery_claims_released", deliveries=released)
        self._wake = asyncio.Event()
        self._stopping = False
        self._batcher = asyncio.create_task(self._run_batches(), name="sqlite-batcher")

    async def close(self) -> None:
        if self._batcher is not None and self._wake is not None:
            deadline = asyncio.get_running_loop().time() + CLOSE_SECONDS
            while self._pending and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            for _, future in self._pending:  # never leave a caller waiting forever
                _settle(future, None, StoreUnavailable("store closed"))
            self._pending = []
            # not cancelled: a batch that is committing finishes, so the connection is idle when closed
            self._stopping = True
            self._wake.set()
            await self._batcher
            self._batcher = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._committer.shutdown(wait=True)
        self._readers.shutdown(wait=True)

    async def write(self, unit: Callable[[SqlTx], T]) -> T:
        return await self.submit(unit)

    def submit(self, unit: Callable[[SqlTx], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self._batcher is None or self._wake is None or self._stopping:
            future.set_exception(StoreUnavailable("store is not running"))
            return future
        self._pending.append((unit, future))
        self._wake.set()
        return future

    async def read(self, query: Callable[[SqlReader], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, query)

    def on_work(self, callback: Callable[[], None]) -> None:
        """One process per SQLite file: its own commits already wake its deliverer."""

    def _run_read(self, query: Callable[[SqlReader], T]) -> T:
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = SqlReader(_connect(self.path, readonly=True), self.cipher)
        return query(reader)

    async def _run_batches(self) -> None:
        assert self._wake is not None and self._conn is not None and self._tx is not None
        loop = asyncio.get_running_loop()
        conn = self._conn
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            if self._pending:
                self._wake.set()
            if not batch:
                continue
            try:
                outcomes = self._run_units(conn, self._tx, batch)
                await loop.run_in_executor(self._committer, conn.execute, "COMMIT")
            except Exception as exc:  # the batcher must outlive any batch: fail these, keep serving
                log.error("store_batch_failed", error=type(exc).__name__, units=len(batch))
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                failure = StoreUnavailable(f"commit failed: {type(exc).__name__}")
                outcomes = [(future, None, failure) for _, future in batch]
            for future, result, error in outcomes:
                _settle(future, result, error)

    @staticmethod
    def _run_units(
        conn: sqlite3.Connection,
        tx: SqlTx,
        batch: list[tuple[Callable[[SqlTx], Any], asyncio.Future[Any]]],
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
