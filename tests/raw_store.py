"""Looking at a gateway's database from outside the gateway, on either engine: for tests that must
see what is really stored (a separate connection, the bytes on disk, what the database refuses)."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg

from gateway.config import Settings
from gateway.store.postgres import translate


class Refused(Exception):
    """The database itself refused a statement (a constraint or a trigger)."""


def _on_own_loop(coro: Any) -> Any:
    # the test's event loop is running on this thread: asyncpg gets a loop of its own on another
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _pg(url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(translate(sql), *params)]
    except asyncpg.PostgresError as exc:
        raise Refused(str(exc)) from None
    finally:
        await conn.close()


def rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Runs one statement (`?` placeholders) on a connection of its own; bytes come back as bytes."""
    if settings.database_url:
        return _on_own_loop(_pg(settings.database_url, sql, params))
    conn = sqlite3.connect(settings.database)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    except sqlite3.IntegrityError as exc:
        raise Refused(str(exc)) from None
    finally:
        conn.close()


async def _pg_files(url: str) -> list[Path]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")  # what is in shared buffers is written to the files first
        data = Path(await conn.fetchval("SHOW data_directory"))
        oid = await conn.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()")
    finally:
        await conn.close()
    return [p for p in (data / "base" / str(oid)).iterdir() if p.is_file()]


def stored_bytes(settings: Settings) -> bytes:
    """Every byte of the database's files on disk (SQLite: the file and its WAL; PostgreSQL: the
    database's own relation files, after a checkpoint)."""
    if settings.database_url:
        files = _on_own_loop(_pg_files(settings.database_url))
    else:
        files = list(settings.database.parent.glob(settings.database.name + "*"))
    return b"".join(p.read_bytes() for p in files)
