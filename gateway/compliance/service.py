"""What the compliance routes and `gateway report` ask for, each answered from one store read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gateway.clock import OSLO, Clock, iso
from gateway.compliance.obligations import obligations
from gateway.compliance.rates import RateTable
from gateway.compliance.report import compliance_report
from gateway.compliance.timeline import timeline
from gateway.compliance.waiting_days import waiting_days
from gateway.pipeline.stay import fold
from gateway.rules.packs import RuleBook
from gateway.store.base import ComplianceItem, Reader, StayRecord, Store

MAX_PERIOD_DAYS = 3 * 366


class PeriodError(ValueError):
    """A report period that cannot be used; the text says which parameter and why."""


def parse_period(start: str | None, end: str | None) -> tuple[date, date]:
    """`from` and `to` are Oslo calendar dates (YYYY-MM-DD), both days included."""
    out = []
    for name, value in (("from", start), ("to", end)):
        if not value:
            raise PeriodError(f"'{name}' is required (a date, YYYY-MM-DD)")
        try:
            out.append(date.fromisoformat(value))
        except ValueError:
            raise PeriodError(f"'{name}' must be a date, YYYY-MM-DD (got {value[:20]!r})") from None
    if out[0] > out[1]:
        raise PeriodError("'from' must not be after 'to'")
    if (out[1] - out[0]).days >= MAX_PERIOD_DAYS:
        raise PeriodError(f"a period spans at most {MAX_PERIOD_DAYS} days")
    return out[0], out[1]


def item_public(it: ComplianceItem) -> dict[str, Any]:
    return {
        "stayId": it.stay_id,
        "kind": it.kind,
        "ruleId": it.rule_id,
        "episode": it.episode,
        "messageType": it.message_type,
        "due": it.due_at,
        "opened": it.opened_at,
        "closed": it.closed_at,
        "metAt": it.done_at,
        "status": "open" if it.closed_at is None else ("met-late" if it.kind == "overdue" else "released"),
        "href": f"/stays/{it.stay_id}",
    }


@dataclass
class Compliance:
    store: Store
    rules: RuleBook
    rates: RateTable
    clock: Clock
    receipt_hours: float = 96

    async def _record(self, stay_id: int) -> tuple[StayRecord, list[ComplianceItem]] | None:
        def read(r: Reader) -> tuple[StayRecord, list[ComplianceItem]] | None:
            found = r.stay_records(None, [stay_id])
            return (found[0], r.compliance_items(stay_id)) if found else None

        return await self.store.read(read)

    async def timeline(self, stay_id: int) -> dict[str, Any] | None:
        got = await self._record(stay_id)
        if got is None:
            return None
        record, items = got
        state = fold(record.events)
        found = obligations(self.rules.current, state, record.outbound, record.receipts, self.clock.now())
        return {
            "stayId": stay_id,
            "status": record.stay.status,
            "timeline": timeline(record, state, items),
            "deadlines": [ob.public() for ob in found],
        }

    async def waiting_days(self, stay_id: int) -> dict[str, Any] | None:
        got = await self._record(stay_id)
        if got is None:
            return None
        record, _ = got
        now = self.clock.now()
        state = fold(record.events)
        found = obligations(self.rules.current, state, record.outbound, record.receipts, now)
        return {
            "stayId": stay_id,
            **waiting_days(state, record.outbound, record.receipts, found, self.rates, now),
        }

    async def items(self, *, open_only: bool, kind: str | None) -> list[dict[str, Any]]:
        rows = await self.store.read(lambda r: r.compliance_items(None, open_only=open_only, kind=kind))
        return [item_public(i) for i in rows]

    async def report(self, start: date, end: date) -> dict[str, Any]:
        since = iso(datetime.combine(start, time(), OSLO).astimezone(UTC) - timedelta(days=1))
        rules, now = self.rules.current, self.clock.now()

        def build(r: Reader) -> dict[str, Any]:
            # on the store's reader thread, so a large period does not stall the event loop
            return compliance_report(
                r.stay_records(since), rules, self.rates, now, start, end, self.receipt_hours
            )

        return await self.store.read(build)
