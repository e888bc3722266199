"""PostgreSQL store (asyncpg): several gateway instances on one database.

Units of work stay synchronous functions of a Tx (gateway/store/base.py), so the same SQL and the
same units serve both engines. On PostgreSQL a unit runs in a greenlet on the gateway's own event
loop: each statement hands its asyncpg coroutine to the loop and the unit resumes with the result
(`_drive`), so a unit waits for the database without blocking the loop, with no threads and no
second event loop (measured: docs/POSTGRESQL.md). Each unit has a connection from an asyncpg pool
and is one transaction (READ COMMITTED); where instances could interleave, the SQL takes
transaction-level advisory locks (`_serialize`): one unit at a time per stay, per recipient feed
and per subscription's event numbers, so feed cursors and event numbers never become visible out
of order. A unit PostgreSQL aborts for a conflict (deadlock, serialization failure, or a unique
key another instance took first, such as the same message id) runs again from the start: it is
a function of the database and its inputs only. Deliveries are claimed with
`FOR UPDATE SKIP LOCKED` and a lease; a commit that queued work NOTIFYs the other instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import asyncpg
import greenlet
import structlog

from gateway.store.base import StoreUnavailable
from gateway.store.cipher import Cipher, NoCipher
from gateway.store.sql import SqlReader, SqlTx

T = TypeVar("T")
log = structlog.get_logger("store")

WORK_CHANNEL = "gateway_work"
MIGRATION_LOCK = "gateway-migrations"
CONFLICT_TRIES = 8
POOL = 10  # connections: units on different stays run side by side
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


def _await(coro: Any) -> Any:
    """From inside a unit's greenlet: let the loop run `coro`, and come back with its result."""
    return greenlet.getcurrent().parent.switch(coro)


async def _drive(fn: Callable[..., T], *args: Any) -> T:
    """Run the synchronous `fn` in a greenlet, awaiting each coroutine it hands out (`_await`)
    on this loop; an exception from a coroutine is raised inside `fn`, where the statement was."""
    unit = greenlet.greenlet(fn)
    handed = unit.switch(*args)
    while not unit.dead:
        try:
            value = await handed
        except BaseException as exc:  # into the unit: it may handle it; if not, it comes back out
            handed = unit.throw(exc)
        else:
            handed = unit.switch(value)
    return handed  # type: ignore[no-any-return]


class PgConnection:
    """One pooled asyncpg connection, used synchronously from a unit's greenlet (the Connection
    of sql.py)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        query, returns_rows = _dialect(sql)
        if returns_rows:
            rows = [tuple(r) for r in _await(self.conn.fetch(query, *params))]
            return _Result(rows, len(rows))
        status = _await(self.conn.execute(query, *params))
        tail = status.rsplit(" ", 1)[-1]
        return _Result([], int(tail) if tail.isdigit() else -1)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        batch = list(params)
        if batch:
            _await(self.conn.executemany(_dialect(sql)[0], batch))


class PgTx(SqlTx):
    _skip_locked = " FOR UPDATE OF d SKIP LOCKED"
    _lock_next = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: PgConnection, cipher: Cipher | None = None) -> None:
        super().__init__(conn, cipher)
        self._notified = False

    def _serialize(self, keys: Iterable[str]) -> bool:
        wanted = list(keys)
        if wanted:  # in the caller's order, in one round trip
            self.c.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                "FROM unnest(CAST(? AS TEXT[])) WITH ORDINALITY AS t(k, n) ORDER BY n",
                (wanted,),
            )
        return bool(wanted)

    def _notify(self) -> None:
        if not self._notified:  # delivered at COMMIT, once per transaction is enough
            self.c.execute("SELECT pg_notify(?, '')", (WORK_CHANNEL,))
            self._notified = True


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


def with_database(url: str, name: str) -> str:
    """The same server's URL, naming another database."""
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
    return with_database(server_url, name)


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
        self._pool: asyncpg.Pool | None = None
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
        self._pool = await asyncpg.create_pool(self.url, min_size=2, max_size=POOL)
        self._listener = await asyncpg.connect(self.url)
        await self._listener.add_listener(WORK_CHANNEL, self._notified)
        # without it other instances' work is still found, by the deliverer's once-a-second poll
        self._listener.add_termination_listener(self._listener_lost)
        self._running = True

    async def close(self) -> None:
        self._running = False
        if self._pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self._pool.close()
            self._pool = None
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
        return await self._run(unit, PgTx)

    def submit(self, unit: Callable[[PgTx], T]) -> asyncio.Future[T]:
        return asyncio.ensure_future(self.write(unit))

    async def read(self, query: Callable[[SqlReader], T]) -> T:
        # a read-only snapshot: no locks, no notifications (the SqlTx hooks stay no-ops)
        return await self._run(query, SqlReader, isolation="repeatable_read", readonly=True)

    async def _run(self, fn: Callable[[Any], T], make: Callable[..., Any], **options: Any) -> T:
        """`fn` in one transaction on a pooled connection, run again from the start when
        PostgreSQL aborted it for a conflict; a failure of ours comes out as StoreUnavailable."""
        if not self._running or self._pool is None:
            raise StoreUnavailable("store is not running")
        for attempt in range(CONFLICT_TRIES):
            try:
                async with self._pool.acquire() as conn, conn.transaction(**options):
                    return await _drive(fn, make(PgConnection(conn), self.cipher))
            except _RETRYABLE as exc:
                log.info("store_conflict_retry", error=type(exc).__name__, attempt=attempt + 1)
                await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
            except _LOST as exc:
                raise StoreUnavailable(f"connection lost: {type(exc).__name__}") from None
            except asyncpg.PostgresError as exc:
                log.error("store_unit_failed", error=type(exc).__name__)
                raise StoreUnavailable(f"unit failed: {type(exc).__name__}") from None
        raise StoreUnavailable("too many conflicting transactions")
