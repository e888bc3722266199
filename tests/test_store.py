"""The SQLite store's commit model: each unit of work alone, even when batched with others."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.store.sqlite import SqliteStore, SqliteTx


async def test_a_failing_unit_rolls_back_alone_and_the_store_keeps_serving(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.start()
    try:

        def good(n: int):
            def unit(tx: SqliteTx) -> int:
                return tx.insert_inbound(f"m{n}", "test", None, "2026", "h", b"x", "accepted")

            return unit

        def bad(tx: SqliteTx) -> None:
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


async def test_a_closed_store_refuses_writes(tmp_path: Path) -> None:
    from gateway.store.base import StoreUnavailable

    store = SqliteStore(tmp_path / "db.sqlite")
    await store.start()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.write(lambda tx: None)
