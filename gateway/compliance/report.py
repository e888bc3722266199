"""Compliance over a period, per hospital department and per municipality (docs/COMPLIANCE.md).

Indicators (each a count, the number it is out of, and the share; no share when out of 0):
- epikrise within 1 day / 7 days: discharges (not deaths) whose Oslo date is in the period; the
  first epikrise the gateway sent within 24 h / 7 × 24 h of the discharge time;
- 24-hour notice on time: admissions in the period that owe one under the rule pack (services
  expected), judged met or missed (not yet due: left out);
- ready notice the same day: ready episodes declared in the period, judged met or missed
  (cancelled before the day ended without one: owed nothing, left out);
- no receipt after 96 h: messages sent in the period at least 96 h before now, without a receipt
  within 96 h of sending;
- waiting days and amount: billable counted days whose date is in the period.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from gateway.clock import OSLO, iso, parse_fhir_datetime
from gateway.compliance.obligations import Obligation, obligations
from gateway.compliance.rates import RateTable
from gateway.compliance.waiting_days import local_date, waiting_days
from gateway.pipeline.routing import municipality_number
from gateway.pipeline.stay import StayState, fold
from gateway.rules.model import RuleSet
from gateway.store.base import StayRecord

INDICATORS = ("epikrise1d", "epikrise7d", "admissionNotice", "readyNotice", "noReceipt96h")
LABELS = {
    "epikrise1d": "Epikrise within 1 day",
    "epikrise7d": "Epikrise within 7 days",
    "admissionNotice": "24-hour notice on time",
    "readyNotice": "Ready notice the same day",
    "noReceipt96h": "No receipt after 96 h",
}


@dataclass
class Tally:
    counts: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0] for k in INDICATORS})
    waiting_days: int = 0
    amount: int = 0
    days_without_rate: int = 0
    department: str = ""
    municipality: str = ""

    def add(self, indicator: str, hit: bool) -> None:
        self.counts[indicator][0] += int(hit)
        self.counts[indicator][1] += 1

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: {"count": c, "of": n, "share": round(c / n, 4) if n else None}
            for k, (c, n) in self.counts.items()
        }
        out["waitingDays"] = self.waiting_days
        out["waitingDayAmount"] = self.amount
        out["waitingDaysWithoutRate"] = self.days_without_rate
        return out


def department_of(state: StayState) -> str:
    """The hospital department: the Encounter's serviceProvider HER-id, else its ward, else unknown."""
    provider = ((state.encounter or {}).get("serviceProvider") or {}).get("identifier") or {}
    return str(provider.get("value") or state.location or "unknown")


def _in(day: date, start: date, end: date) -> bool:
    return start <= day <= end


def stay_contributions(
    record: StayRecord,
    rules: RuleSet,
    rates: RateTable,
    now: datetime,
    start: date,
    end: date,
    receipt_hours: float,
) -> Tally:
    """What one stay adds to the figures of its department and its municipality."""
    state = fold(record.events)
    found: list[Obligation] = obligations(rules, state, record.outbound, record.receipts, now)
    t = Tally()
    if state.discharged_at and not state.died_at and _in(local_date(state.discharged_at), start, end):
        at = parse_fhir_datetime(state.discharged_at)
        sent = [
            parse_fhir_datetime(o.created_at)
            for o in record.outbound
            if o.message_type == "EPIKRISE" and o.dispatch_status in ("N", "M") and o.status != "held"
        ]
        first = min(sent, default=None)
        t.add("epikrise1d", first is not None and first <= at + timedelta(days=1))
        t.add("epikrise7d", first is not None and first <= at + timedelta(days=7))
    for ob in found:
        if ob.verdict not in ("met", "missed") or not _in(ob.start.astimezone(OSLO).date(), start, end):
            continue
        if ob.episode == "admission" and ob.message_type == "HELSEOPPL_SOKNAD":
            t.add("admissionNotice", ob.verdict == "met")
        elif ob.episode.startswith("ready:") and ob.message_type == "LOG_UTSKRIVNINGSKLAR":
            t.add("readyNotice", ob.verdict == "met")
    window = timedelta(hours=receipt_hours)
    for o in record.outbound:
        if o.status == "held":
            continue
        sent_at = parse_fhir_datetime(o.created_at)
        if not _in(sent_at.astimezone(OSLO).date(), start, end) or sent_at + window > now:
            continue
        got = [parse_fhir_datetime(r["received"]) for r in record.receipts.get(o.message_id, [])]
        t.add("noReceipt96h", not any(g <= sent_at + window for g in got))
    days = waiting_days(state, record.outbound, record.receipts, found, rates, now)
    for ep in days["episodes"]:
        if not ep["billable"]:
            continue
        for d in ep["days"]:
            if _in(date.fromisoformat(d["date"]), start, end):
                t.waiting_days += 1
                if d["amount"] is None:
                    t.days_without_rate += 1
                else:
                    t.amount += d["amount"]
    t.municipality = municipality_number(state.patient) or "unknown"
    t.department = department_of(state)
    return t


def _merge(into: Tally, t: Tally) -> None:
    for k, (c, n) in t.counts.items():
        into.counts[k][0] += c
        into.counts[k][1] += n
    into.waiting_days += t.waiting_days
    into.amount += t.amount
    into.days_without_rate += t.days_without_rate


def compliance_report(
    records: list[StayRecord],
    rules: RuleSet,
    rates: RateTable,
    now: datetime,
    start: date,
    end: date,
    receipt_hours: float = 96,
) -> dict[str, Any]:
    groups: dict[tuple[str, str], Tally] = {}
    total = Tally()
    for rec in records:
        t = stay_contributions(rec, rules, rates, now, start, end, receipt_hours)
        for dim, key in (("department", t.department), ("municipality", t.municipality)):
            _merge(groups.setdefault((dim, key), Tally()), t)
        _merge(total, t)
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat(), "timeZone": "Europe/Oslo"},
        "generatedAt": iso(now),
        "currency": rates.currency,
        "indicators": LABELS,
        "groups": [
            {"dimension": dim, "group": key, **tally.public()} for (dim, key), tally in sorted(groups.items())
        ],
        "total": total.public(),
    }


CSV_COLUMNS = (
    ["dimension", "group"]
    + [f"{k}_{part}" for k in INDICATORS for part in ("count", "of", "share")]
    + ["waitingDays", "waitingDayAmount", "waitingDaysWithoutRate"]
)


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for g in [*report["groups"], {"dimension": "total", "group": "all", **report["total"]}]:
        row = [g["dimension"], g["group"]]
        for k in INDICATORS:
            share = g[k]["share"]
            row += [g[k]["count"], g[k]["of"], "" if share is None else f"{share:.4f}"]
        row += [g["waitingDays"], g["waitingDayAmount"], g["waitingDaysWithoutRate"]]
        w.writerow(row)
    return out.getvalue()
