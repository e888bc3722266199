"""Several instances on one PostgreSQL database, at the store level: what one instance alone
(SQLite) never has to worry about. Two PgStore objects are two instances: each has its own
connections, exactly as two processes would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import pytest

from gateway.store.base import DeliveryRow, NewOutbound, Subscription, Tx
from gateway.store.postgres import PgStore, create_scratch, drop_scratch
from tests import pg_server as pgtest

NOW = "2026-11-24T10:00:00Z"


@pytest.fixture
def empty_database(pg_server: str) -> Iterator[str]:
    """A database with no schema at all (not a copy of the migrated template)."""
    url = asyncio.run(create_scratch(pg_server))
    yield url
    asyncio.run(drop_scratch(pg_server, url))


@pytest.fixture
def fresh_database(pg_server: str) -> str:
    return pgtest.new_database(pg_server)


@pytest.fixture
async def two_instances(fresh_database: str) -> AsyncIterator[tuple[PgStore, PgStore]]:
    first, second = PgStore(fresh_database), PgStore(fresh_database)
    await asyncio.gather(first.start(), second.start())
    try:
        yield first, second
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_instances_starting_together_migrate_once(empty_database: str) -> None:
    stores = [PgStore(empty_database) for _ in range(3)]
    await asyncio.gather(*(s.start() for s in stores))
    try:
        conn = await asyncpg.connect(empty_database)
        try:
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
        finally:
            await conn.close()
        assert versions == sorted(set(versions)) and versions[-1] >= 8  # each migration once
        assert await stores[0].read(lambda r: r.inbound_count()) == 0
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def _outbound(n: int, her: str) -> NewOutbound:
    return NewOutbound(
        f"msg-{n}", f"conv-{n}", None, "LOG_INNLAGT", "LOG_INNLAGT", "N", her, "nursing", "fp", "ready", b"{}"
    )


def _subscribe(tx: Tx) -> None:
    tx.create_subscription(
        Subscription(
            "sub-1", ["8100011"], [], "fhir+json", "push", "http://127.0.0.1:9/hook", ["s"], "active", NOW
        )
    )


def _produce(n: int, stay_key: str):
    """A unit as the pipeline's tail does it: the stay, a message for the feed, its delivery."""

    def unit(tx: Tx) -> int:
        stay = tx.get_stay(stay_key) or tx.create_stay(stay_key, "patient", NOW)
        row = _outbound(n, "8100011")
        tx.insert_outbound(stay.stay_id, None, NOW, [row])
        return tx.enqueue_deliveries([row], f"patient-{n % 7}", NOW)

    return unit


def _delivered(tx: Tx, row: DeliveryRow, who: str, now: str = NOW) -> bool:
    """Records `row` as delivered by `who`: False when the claim is no longer who's."""
    return tx.record_attempt(
        row.subscription_id,
        row.outbound_seq,
        status="delivered",
        next_attempt_at=NOW,
        error=None,
        now=now,
        claimant=who,
    )


async def test_feed_cursors_and_event_numbers_never_skip_under_two_writers(
    two_instances: tuple[PgStore, PgStore],
) -> None:
    first, second = two_instances
    await first.write(_subscribe)
    total = 240
    done = asyncio.Event()
    seen_seq: list[int] = []
    snapshots: list[list[int]] = []

    async def cursor_reader() -> None:
        # a subscriber reading the feed after its cursor, as fast as it can, while both write
        cursor = 0
        while True:
            finished = done.is_set()
            rows = await second.read(lambda r, c=cursor: r.feed("8100011", c, 1000))
            seen_seq.extend(r.seq for r in rows)
            if rows:
                cursor = rows[-1].seq
            events = await first.read(lambda r: r.events("sub-1", 0, 10_000))
            snapshots.append([e["eventNumber"] for e in events])
            if finished:
                return

    async def writers(store: PgStore, offset: int) -> None:
        await asyncio.gather(*(store.write(_produce(n, f"stay-{n}")) for n in range(offset, total, 2)))

    reader = asyncio.create_task(cursor_reader())
    await asyncio.gather(writers(first, 0), writers(second, 1))
    done.set()
    await reader
    every = await first.read(lambda r: [row.seq for row in r.feed("8100011", 0, 10_000)])
    assert len(every) == total
    assert sorted(seen_seq) == every  # the cursor reader missed nothing and saw nothing twice
    for numbers in snapshots:  # whatever moment it looked: 1..k, no gap that fills in later
        assert numbers == list(range(1, len(numbers) + 1))
    assert snapshots[-1] == list(range(1, total + 1))


async def test_one_stay_written_from_two_instances_at_once_is_one_stay(
    two_instances: tuple[PgStore, PgStore],
) -> None:
    first, second = two_instances
    await asyncio.gather(
        *(store.write(_produce(n, "the-stay")) for n, store in enumerate([first, second] * 10))
    )
    stays = await first.read(lambda r: r.stays(None, 100))
    assert [s.stay_key for s in stays] == ["the-stay"]
    assert len(await first.read(lambda r: r.stay_outbound(stays[0].stay_id))) == 20


async def test_the_same_message_id_at_two_instances_at_once_is_taken_once(
    two_instances: tuple[PgStore, PgStore],
) -> None:
    def take(tx: Tx) -> str:
        seq = tx.insert_inbound("same-id", "fhir", "A01", NOW, "h", b"body", "processed")
        return "duplicate" if seq is None else "accepted"

    answers = await asyncio.gather(*(store.write(take) for store in list(two_instances) * 4))
    assert sorted(answers) == ["accepted"] + ["duplicate"] * 7
    assert await two_instances[0].read(lambda r: r.inbound_count()) == 1


async def test_two_instances_inboxes_take_different_accepted_events(
    two_instances: tuple[PgStore, PgStore],
) -> None:
    """An event acknowledged at storage is processed by one instance: while one holds the oldest
    in its processing unit, the other takes the next one at once, not the same one after it."""
    first, second = two_instances
    for n in range(3):
        await first.write(
            lambda tx, n=n: tx.insert_inbound(f"acc-{n}", "hl7v2-mllp", "A01", NOW, "h", b"b", "accepted")
        )
    claimed = asyncio.Event()

    def process(hold: float) -> Callable[[Tx], int | None]:
        def unit(tx: Tx) -> int | None:
            row = tx.next_accepted()
            if row is None:
                return None
            claimed.set()
            tx.c.execute("SELECT pg_sleep(?)", (hold,))  # type: ignore[attr-defined]
            tx.finish_accepted(row.seq, "processed", b"AA")
            return row.seq

        return unit

    slow = asyncio.create_task(first.write(process(2.0)))
    await claimed.wait()
    fast = asyncio.create_task(second.write(process(0)))
    done, _ = await asyncio.wait({slow, fast}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {fast}  # it did not wait for the row the other instance holds
    taken = [fast.result(), await slow]
    assert None not in taken and len(set(taken)) == 2
    rest = await first.write(process(0))
    assert rest is not None and rest not in taken
    assert await first.write(process(0)) is None


async def test_claims_are_exclusive_and_a_dead_instances_lease_runs_out(
    two_instances: tuple[PgStore, PgStore],
) -> None:
    first, second = two_instances
    await first.write(_subscribe)
    for n in range(30):
        await first.write(_produce(n, f"stay-{n}"))
    lease = "2026-11-24T10:01:00.000Z"

    def claim(who: str, now: str = "2026-11-24T10:00:01.000Z", until: str = lease):
        return lambda tx: tx.claim_deliveries(now, who, until, 100)

    a, b = await asyncio.gather(first.write(claim("a")), second.write(claim("b")))
    heads = {r.outbound_seq for r in a} | {r.outbound_seq for r in b}
    assert not {r.outbound_seq for r in a} & {r.outbound_seq for r in b}  # never both
    assert len(heads) == 7  # one per patient: the oldest pending message of each
    # which of the two got the heads depends on the race: start the lease story from "a" alone
    await first.write(lambda tx: tx.release_claims())
    a = await first.write(claim("a"))
    assert {r.outbound_seq for r in a} == heads
    # "a" dies holding its claims: nobody may take them before the lease runs out ...
    again = await second.write(claim("b"))
    assert again == []
    # ... and after it, the other instance does, and records the outcome; a's late word is ignored
    late = await second.write(claim("b", now="2026-11-24T10:01:00.001Z", until="2026-11-24T10:02:00.000Z"))
    assert {r.outbound_seq for r in late} == {r.outbound_seq for r in a}
    row = late[0]
    assert await first.write(lambda tx: _delivered(tx, row, "a")) is False
    assert await second.write(lambda tx: _delivered(tx, row, "b")) is True


async def test_a_patients_next_message_is_claimed_with_the_last_ones_outcome(
    two_instances: tuple[PgStore, PgStore],
) -> None:
    """The deliverer records an outcome and claims the same patient's next message in one unit;
    while the head is claimed, no instance can take that patient's next one."""
    first, second = two_instances
    await first.write(_subscribe)
    for n in range(30):
        await first.write(_produce(n, f"stay-{n}"))
    now, lease = "2026-11-24T10:00:01.000Z", "2026-11-24T10:01:00.000Z"
    (head,) = await first.write(lambda tx: tx.claim_deliveries(now, "a", lease, 1))
    patient = (head.subscription_id, head.order_key)
    assert await second.write(lambda tx: tx.claim_deliveries(now, "b", lease, 100, only=patient)) == []

    def record_and_next(tx: Tx) -> list:
        assert _delivered(tx, head, "a", now)
        return tx.claim_deliveries(now, "a", lease, 1, only=patient)

    (following,) = await first.write(record_and_next)
    assert following.order_key == head.order_key and following.outbound_seq > head.outbound_seq
    others = await second.write(lambda tx: tx.claim_deliveries(now, "b", lease, 100))
    # the six other patients' heads; not the one a holds
    assert {r.order_key for r in others} == {f"patient-{k}" for k in range(7)} - {head.order_key}


async def test_work_queued_by_one_instance_wakes_the_others(two_instances: tuple[PgStore, PgStore]) -> None:
    first, second = two_instances
    await first.write(_subscribe)
    woken = asyncio.Event()
    second.on_work(woken.set)
    await first.write(lambda tx: tx.find_inbound("nothing"))  # a unit that queues nothing ...
    await asyncio.sleep(0.2)
    assert not woken.is_set()  # ... wakes no one
    await first.write(_produce(1, "stay-1"))
    async with asyncio.timeout(2):  # LISTEN/NOTIFY: at once, not at the next once-a-second poll
        await woken.wait()
