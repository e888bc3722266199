"""Which store a setting names: SQLite in the data directory (the default), or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import Store
from gateway.store.cipher import Cipher

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def engine_of(database_url: str) -> str:
    if not database_url:
        return "sqlite"
    if database_url.startswith(POSTGRES_SCHEMES):
        return "postgresql"
    raise ValueError("database_url must be empty (SQLite in data_dir) or a postgresql:// URL")


def open_store(database_url: str, sqlite_path: Path, cipher: Cipher) -> Store:
    if engine_of(database_url) == "postgresql":
        from gateway.store.postgres import PgStore  # asyncpg is loaded only when it is used

        return PgStore(database_url, cipher)
    from gateway.store.sqlite import SqliteStore

    return SqliteStore(sqlite_path, cipher)
