"""The deadline watcher: evaluates the rule book's timing rules for open stays as time passes.

A background task (started in gateway/app.py beside the deliverer, ended by `stop()`) runs
`step()` every `interval` seconds; tests call `step()` directly with a ManualClock. Each step:
1. reads the open stays (updated within `lookback`, or with an open item), one stay's record at a
   time, and derives its obligations (gateway/compliance/obligations.py) at the clock's now;
2. keeps, of what it finds, only what the store does not know yet;
3. writes, in one unit of work, an `overdue` item per (stay, rule, episode) whose deadline passed
   unmet, closed when met late; and an `escalated` item per held message (gate.py holds incomplete
   documents) whose deadline is within `margin` or past, closed when the message goes out;
4. for each item new in this step: one structured log line (ids and codes only) and a counter.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from gateway.clock import Clock, iso
from gateway.compliance.obligations import Obligation, obligations
from gateway.metrics import Metrics
from gateway.pipeline.stay import fold
from gateway.rules.packs import RuleBook
from gateway.store.base import ComplianceItem, Reader, StayRecord, Store, Tx

log = structlog.get_logger("watcher")
BATCH = 200  # stays whose recorded items are read at a time (their records: one at a time)


@dataclass
class WatcherSettings:
    interval: float = 60.0  # seconds between evaluations
    margin: timedelta = timedelta(hours=2)  # a held message this close to its deadline is escalated
    lookback: timedelta = timedelta(days=14)  # stays untouched for longer are not watched


def items_for(
    record: StayRecord, found: list[Obligation], now: datetime, margin: timedelta
) -> list[ComplianceItem]:
    """What the watcher records for one stay: overdue deadlines and escalated held messages."""
    stay_id, stamp = record.stay.stay_id, iso(now)
    items = []
    for ob in found:
        if ob.verdict == "missed":
            done = iso(ob.done_at) if ob.done_at else None
            closed = stamp if done else None  # met late: recorded, and closed at once
            items.append(
                ComplianceItem(
                    stay_id,
                    ob.rule_id,
                    ob.episode,
                    "overdue",
                    ob.message_type,
                    iso(ob.due),
                    stamp,
                    closed,
                    done,
                )
            )
    held = {h.get("messageType") for h in record.stay.state.get("held") or ()}
    for ob in found:
        if ob.message_type is None or ob.episode.startswith("message:"):
            continue
        if ob.message_type in held and ob.done_at is None and now >= ob.due - margin:
            items.append(
                ComplianceItem(
                    stay_id, ob.rule_id, ob.episode, "escalated", ob.message_type, iso(ob.due), stamp
                )
            )
        elif ob.message_type not in held or ob.done_at is not None:
            # no longer held (sent, or the rule no longer holds it): an open escalation closes
            items.append(
                ComplianceItem(
                    stay_id,
                    ob.rule_id,
                    ob.episode,
                    "escalated",
                    ob.message_type,
                    iso(ob.due),
                    stamp,
                    stamp,
                    iso(ob.done_at) if ob.done_at else None,
                )
            )
    return items


def changes(
    items: list[ComplianceItem], known: dict[tuple[int, str, str, str], str | None]
) -> list[ComplianceItem]:
    """Only what the store does not know yet: a new item, or the closing of an open one. In the
    steady state that is nothing, so a step writes nothing (upsert_items would ignore the rest)."""
    out = []
    for it in items:
        key = (it.stay_id, it.rule_id, it.episode, it.kind)
        if key not in known:
            if not (it.kind == "escalated" and it.closed_at):
                out.append(it)
        elif known[key] is None and it.closed_at is not None:
            out.append(it)
    return out


@dataclass
class DeadlineWatcher:
    store: Store
    clock: Clock
    rules: RuleBook
    metrics: Metrics | None = None
    settings: WatcherSettings = field(default_factory=WatcherSettings)
    _stopping: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def step(self) -> list[ComplianceItem]:
        """One evaluation of every open stay; returns the items first recorded now."""
        now = self.clock.now()
        since = iso(now - self.settings.lookback)

        rules, margin = self.rules.current, self.settings.margin

        def evaluate(r: Reader) -> list[ComplianceItem]:
            # runs on the store's reader thread: the event loop keeps serving while stays are judged.
            # One stay's record (its events, decoded) is read, judged and let go before the next is
            # read, and only what changed is kept past its stay: the step's working set is one stay
            # (~0.1 MB), whatever the number watched. Records read 200 at a time (~23 MB at once)
            # grew the process at every step of a soak although live objects stayed flat: the
            # interpreter's object arenas rose to a new high-water mark and were never given back
            # (docs/PERFORMANCE.md, "Memory").
            stay_ids = r.stay_ids_since(since)
            seen = set(stay_ids)
            stay_ids += [s for s in r.open_item_stays() if s not in seen]
            changed: list[ComplianceItem] = []
            for start in range(0, len(stay_ids), BATCH):
                batch = stay_ids[start : start + BATCH]
                known = r.item_states(batch)
                for stay_id in batch:
                    for rec in r.stay_records(None, [stay_id]):
                        found = obligations(rules, fold(rec.events), rec.outbound, rec.receipts, now)
                        changed += changes(items_for(rec, found, now, margin), known)
            return changed

        items = await self.store.read(evaluate)
        if not items:
            return []

        def unit(tx: Tx) -> list[ComplianceItem]:
            return tx.upsert_items(items)

        new = await self.store.write(unit)
        for item in new:
            if item.kind == "overdue":
                log.warning(
                    "deadline_missed",
                    stay_id=item.stay_id,
                    rule=item.rule_id,
                    episode=item.episode,
                    message_type=item.message_type,
                    due=item.due_at,
                    met_late_at=item.done_at,
                )
                if self.metrics is not None:
                    self.metrics.overdue.labels(item.rule_id).inc()
            else:
                log.warning(
                    "held_message_escalated",
                    stay_id=item.stay_id,
                    rule=item.rule_id,
                    episode=item.episode,
                    message_type=item.message_type,
                    due=item.due_at,
                )
                if self.metrics is not None:
                    self.metrics.escalations.labels(item.message_type or "").inc()
        return new

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the step: a stop() during the step still ends the wait
            try:
                await self.step()
            except Exception as exc:  # the watcher must outlive one bad evaluation
                log.error("watcher_step_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.interval):
                    await self._wake.wait()
