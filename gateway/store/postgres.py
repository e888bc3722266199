"""PostgreSQL store (asyncpg): several gateway instances on one database.

Units of work stay synchronous functions of a Tx (gateway/store/base.py), so the same SQL and the
same units serve both engines. Each runs on a worker thread that owns one asyncpg connection and
drives it with its own event loop; the gateway's loop awaits the thread. A unit is one
transaction (READ COMMITTED); where instances could interleave, the SQL takes transaction-level
advisory locks (`_serialize`): one unit at a time per stay, per recipient feed and per
subscription's event numbers, so feed cursors and event numbers never become visible out of
order. A unit PostgreSQL aborts for a conflict (deadlock, serialization failure, or a unique
key another instance took first, such as the same message id) runs again from the start: it is
a function of the database and its inputs only. Deliveries are claimed with
`FOR UPDATE SKIP LOCKED` and a lease; a commit that queued work NOTIFYs the other instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import asyncpg
import structlog

from gateway.store.base import StoreUnavailable
from gateway.store.cipher import Cipher, NoCipher
from gateway.store.sql import SqlReader, SqlTx

T = TypeVar("T")
log = structlog.get_logger("store")

WORK_CHANNEL = "gateway_work"
MIGRATION_LOCK = "gateway-migrations"
CONFLICT_TRIES = 8
WRITERS = 8  # connections for units of work: units on different stays run side by side
READERS = 2
_RETRYABLE = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.UniqueViolationError,
)
_LOST = (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.InterfaceError, OSError)


@lru_cache(maxsize=1024)
def _dialect(sql: str) -> tuple[str, bool]:
    """`?` placeholders as `$n`, and whether the statement returns rows."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    upper = sql.lstrip().upper()
    return re.sub(r"\?", number, sql), upper.startswith(("SELECT", "WITH")) or " RETURNING " in upper


def translate(sql: str) -> str:
    """A statement written for both engines (`?` placeholders) as PostgreSQL takes it."""
    return _dialect(sql)[0]


class _Result:
    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Any:
        return iter(self.rows)


class PgConnection:
    """One asyncpg connection used synchronously from its worker thread (the Connection of sql.py)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(url))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        query, returns_rows = _dialect(sql)
        if returns_rows:
            rows = [tuple(r) for r in self.loop.run_until_complete(self.conn.fetch(query, *params))]
            return _Result(rows, len(rows))
        status = self.loop.run_until_complete(self.conn.execute(query, *params))
        tail = status.rsplit(" ", 1)[-1]
        return _Result([], int(tail) if tail.isdigit() else -1)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        batch = list(params)
        if batch:
            self.loop.run_until_complete(self.conn.executemany(_dialect(sql)[0], batch))

    def run(self, statement: str) -> None:
        self.loop.run_until_complete(self.conn.execute(statement))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.conn.close(timeout=2))
        self.loop.close()


class PgTx(SqlTx):
    _skip_locked = " FOR UPDATE OF d SKIP LOCKED"

    def __init__(self, conn: PgConnection, cipher: Cipher | None = None) -> None:
        super().__init__(conn, cipher)
        self._notified = False

    def _serialize(self, keys: Iterable[str]) -> None:
        wanted = list(keys)
        if wanted:  # in the caller's order, in one round trip
            self.c.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                "FROM unnest(CAST(? AS TEXT[])) WITH ORDINALITY AS t(k, n) ORDER BY n",
                (wanted,),
            )

    def _notify(self) -> None:
        if not self._notified:  # delivered at COMMIT, once per transaction is enough
            self.c.execute("SELECT pg_notify(?, '')", (WORK_CHANNEL,))
            self._notified = True


class PgReader(SqlReader):
    """Reads in a read-only snapshot: no locks, no notifications (the SqlTx hooks stay no-ops)."""


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("gateway.store") / "migrations_pg"
    found = [
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> int:
    """Brings the schema up to date; instances starting together take turns on a session lock."""
    await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", MIGRATION_LOCK)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        for version, sql in _migrations():
            if version > current:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", version)
                current = version
        return int(current)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", MIGRATION_LOCK)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


async def create_scratch(server_url: str) -> str:
    """A new, empty database on the server `server_url` names (its user may create databases):
    for runs that must start clean, such as each scenario of a replay. Returns its URL."""
    name = f"gateway_scratch_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(server_url, name)


async def drop_scratch(server_url: str, database_url: str) -> None:
    name = database_url.partition("?")[0].rsplit("/", 1)[1]
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """create_scratch, and dropped afterwards."""
    url = await create_scratch(server_url)
    try:
        yield url
    finally:
        await drop_scratch(server_url, url)


class PgStore:
    def __init__(self, url: str, cipher: Cipher | None = None) -> None:
        self.url = url
        self.cipher: Cipher = cipher or NoCipher()
        self._writers = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="pg-write")
        self._readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="pg-read")
        self._local = threading.local()
        self._connections: list[PgConnection] = []
        self._lock = threading.Lock()
        self._listener: asyncpg.Connection | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._running = False

    async def start(self) -> None:
        try:
            conn = await asyncpg.connect(self.url)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {type(exc).__name__}") from None
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self._listener = await asyncpg.connect(self.url)
        await self._listener.add_listener(WORK_CHANNEL, self._notified)
        # without it other instances' work is still found, by the deliverer's once-a-second poll
        self._listener.add_termination_listener(self._listener_lost)
        self._running = True

    async def close(self) -> None:
        self._running = False
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._writers.shutdown, True)
        await loop.run_in_executor(None, self._readers.shutdown, True)
        # each connection is closed on its own loop, which cannot run on this thread beside ours
        connections, self._connections = self._connections, []
        await loop.run_in_executor(None, lambda: [conn.close() for conn in connections])
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None

    def _listener_lost(self, _: Any) -> None:
        if self._running:  # not when we close it ourselves
            log.warning("store_listener_lost")

    def on_work(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def _notified(self, *_: Any) -> None:
        for callback in self._callbacks:
            callback()

    async def write(self, unit: Callable[[PgTx], T]) -> T:
        if not self._running:
            raise StoreUnavailable("store is not running")
        return await asyncio.get_running_loop().run_in_executor(self._writers, self._run_write, unit)

    async def read(self, query: Callable[[PgReader], T]) -> T:
        if not self._running:
            raise StoreUnavailable("store is not running")
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._run_read, query)

    async def replace_directory(self, entries: Sequence[tuple[str, str, str]]) -> None:
        await self.write(lambda tx: tx.replace_directory(entries))

    def _connection(self) -> PgConnection:
        conn: PgConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = PgConnection(self.url)
            except (OSError, asyncpg.PostgresError) as exc:
                raise StoreUnavailable(f"cannot connect: {type(exc).__name__}") from None
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop(self, conn: PgConnection) -> None:
        """A connection that failed is closed; the thread opens a new one for its next unit."""
        self._local.conn = None
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        conn.close()

    def _run_write(self, unit: Callable[[PgTx], T]) -> T:
        conn = self._connection()
        for attempt in range(CONFLICT_TRIES):
            try:
                conn.run("BEGIN")
                result = unit(PgTx(conn, self.cipher))
                conn.run("COMMIT")
                return result
            except _RETRYABLE as exc:
                self._rollback(conn)
                log.info("store_conflict_retry", error=type(exc).__name__, attempt=attempt + 1)
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
            except _LOST as exc:
                self._drop(conn)
                raise StoreUnavailable(f"connection lost: {type(exc).__name__}") from None
            except asyncpg.PostgresError as exc:
                self._rollback(conn)
                log.error("store_unit_failed", error=type(exc).__name__)
                raise StoreUnavailable(f"unit failed: {type(exc).__name__}") from None
            except BaseException:  # the unit's own failure: undone, reported to its caller
                self._rollback(conn)
                raise
        raise StoreUnavailable("too many conflicting transactions")

    def _run_read(self, query: Callable[[PgReader], T]) -> T:
        conn = self._connection()
        try:
            conn.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            result = query(PgReader(conn, self.cipher))
            conn.run("COMMIT")
            return result
        except _LOST as exc:
            self._drop(conn)
            raise StoreUnavailable(f"connection lost: {type(exc).__name__}") from None
        except asyncpg.PostgresError as exc:
            self._rollback(conn)
            raise StoreUnavailable(f"read failed: {type(exc).__name__}") from None
        except BaseException:
            self._rollback(conn)
            raise

    def _rollback(self, conn: PgConnection) -> None:
        try:
            conn.run("ROLLBACK")
        except _LOST:
            self._drop(conn)
        except asyncpg.PostgresError:
            pass
