"""The stores' commit model: each unit of work alone, even when batched with others (SQLite) or
run side by side on several connections (PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.store.base import Store, Tx
from gateway.store.cipher import NoCipher
from gateway.store.engines import open_store


def _store(tmp_path: Path, database_url: str) -> Store:
    return open_store(database_url, tmp_path / "db.sqlite", NoCipher())


async def test_a_failing_unit_rolls_back_alone_and_the_store_keeps_serving(
    tmp_path: Path, database_url: str
) -> None:
    store = _store(tmp_path, database_url)
    await store.start()
    try:

        def good(n: int):
            def unit(tx: Tx) -> int:
                return tx.insert_inbound(f"m{n}", "test", None, "2026", "h", b"x", "accepted")

            return unit

        def bad(tx: Tx) -> None:
            tx.insert_inbound("doomed", "test", None, "2026", "h", b"x", "accepted")
            raise ValueError("this unit fails after writing")

        results = await asyncio.gather(
            store.write(good(1)), store.write(bad), store.write(good(2)), return_exceptions=True
        )
        assert isinstance(results[1], ValueError)
        assert isinstance(results[0], int) and isinstance(results[2], int)
        assert await store.read(lambda r: r.find_inbound("doomed")) is None
        assert await store.read(lambda r: r.inbound_count()) == 2
        assert isinstance(await store.write(good(3)), int)  # and it goes on
    finally:
        await store.close()


async def test_a_closed_store_refuses_writes(tmp_path: Path, database_url: str) -> None:
    from gateway.store.base import StoreUnavailable

    store = _store(tmp_path, database_url)
    await store.start()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.write(lambda tx: None)


def test_both_engines_have_the_same_migrations() -> None:
    """Every schema change is made for both engines, under the same number."""
    folder = Path(__file__).resolve().parents[1] / "gateway" / "store"
    numbers = {
        engine: sorted(p.name.split("_", 1)[0] for p in (folder / engine).glob("*.sql"))
        for engine in ("migrations", "migrations_pg")
    }
    assert numbers["migrations"] == numbers["migrations_pg"]
    assert numbers["migrations"] == [f"{n:04d}" for n in range(1, len(numbers["migrations"]) + 1)]
