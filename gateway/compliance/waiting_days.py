"""Waiting days (overliggedøgn): the days a ready patient waits that the municipality pays for.

The day-counting convention (docs/COMPLIANCE.md): days are Europe/Oslo calendar dates. The ready
date is day one; a day counts when the patient is still waiting when it ends, so the day counting
stops on (discharge, death, avmelding, or the date the municipality said it can take the patient)
is not counted. Ready Monday, discharged Wednesday: Monday and Tuesday, two days. A 23- or 25-hour
day (daylight saving) is one day like any other. A still-open episode counts the days ended so far.

An episode is billable when the notices were given on time under the rule pack's timing rules
(the ready notice for this episode, and the 24-hour notice when it applies) and the ready notice
was not rejected; each counted day says whether the municipality had said it cannot take the
patient or had not answered.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from gateway.clock import OSLO, iso, parse_fhir_datetime
from gateway.compliance.obligations import Obligation
from gateway.compliance.rates import RateTable
from gateway.pipeline.stay import ReadyEpisode, StayState
from gateway.store.base import OutboundRow

CONVENTION = (
    "Europe/Oslo calendar days; the ready date is the first day; the day counting stops "
    "(discharge, death, avmelding, or the date the municipality can take the patient) is not counted"
)


def local_date(text: str) -> date:
    return parse_fhir_datetime(text).astimezone(OSLO).date()


def _message(o: OutboundRow, receipts: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "messageId": o.message_id,
        "messageType": o.message_type,
        "dispatchStatus": o.dispatch_status,
        "recipient": o.recipient_her,
        "sent": o.created_at,
        "receipts": receipts.get(o.message_id, []),
    }


def _answers_of(
    state: StayState, episode: ReadyEpisode, notice_ids: set[str], end: str | None
) -> list[dict[str, Any]]:
    """The municipality's answers to this episode: those naming its ready notice, else by time."""
    out = []
    for a in state.ready_answers:
        by_time = a["at"] >= episode.ready_at and (end is None or a["at"] < end)
        if a.get("answers") in notice_ids or (a.get("answers") is None and by_time):
            out.append(a)
    return out


def _end(
    state: StayState, episode: ReadyEpisode, answers: list[dict[str, Any]], ready: date
) -> tuple[date, str, str | None] | None:
    """(date counting stops, why, the answer's message id) — the earliest that applies."""
    ends: list[tuple[date, str, str | None]] = []
    if episode.cancelled_at:
        ends.append((local_date(episode.cancelled_at), "avmelding", None))
    if state.died_at:
        ends.append((local_date(state.died_at), "death", None))
    elif state.discharged_at:
        ends.append((local_date(state.discharged_at), "discharge", None))
    for a in answers:
        if a.get("can_receive") == "yes":
            # "can take the patient": from its date, else from the day it said so; never before the ready date
            said = local_date(a["at"])
            when = date.fromisoformat(a["from"]) if a.get("from") else said
            ends.append((max(when, ready), "municipality-can-receive", a.get("message_id")))
    return min(ends, key=lambda e: e[0]) if ends else None


def _basis(latest: dict[str, Any] | None) -> str:
    """Why a counted day counts: the municipality had not answered (or only unclearly), or had
    said it cannot take the patient (yet: a "can" from a later date means "cannot" until then)."""
    if latest is None:
        return "no-answer"
    return {"no": "cannot-receive", "yes": "cannot-receive-until-date"}.get(
        str(latest.get("can_receive")), "unclear-answer"
    )


def _notice_reasons(obs: list[Obligation]) -> list[str]:
    reasons = []
    for ob in obs:
        if ob.verdict == "met":
            continue
        if ob.done_at is None:
            reasons.append(f"{ob.rule_id}: {ob.message_type} not sent (due {iso(ob.due)})")
        else:
            reasons.append(
                f"{ob.rule_id}: {ob.message_type} sent late ({iso(ob.done_at)}, due {iso(ob.due)})"
            )
    return reasons


def episode_days(
    state: StayState,
    episode: ReadyEpisode,
    outbound: list[OutboundRow],
    receipts: dict[str, list[dict[str, Any]]],
    found: list[Obligation],
    rates: RateTable,
    now: datetime,
) -> dict[str, Any]:
    ready = local_date(episode.ready_at)
    notices = [
        o
        for o in outbound
        if o.message_type == "LOG_UTSKRIVNINGSKLAR"
        and f":{episode.key}|" in o.notice_key
        and o.dispatch_status != "C"
    ]
    notice_ids = {o.message_id for o in notices}
    answers = _answers_of(state, episode, notice_ids, episode.cancelled_at)
    end = _end(state, episode, answers, ready)
    today = now.astimezone(OSLO).date()
    last = end[0] if end else today  # exclusive
    # the notices this episode rests on: its own ready-day rule(s), and the admission rule(s)
    own = [ob for ob in found if ob.episode in (f"ready:{episode.key}", "admission")]
    reasons = _notice_reasons(own)
    if not any(ob.episode == f"ready:{episode.key}" for ob in own):
        reasons.append("no timing rule for the ready notice is in force: the notices cannot be judged")
    for o in notices:
        got = receipts.get(o.message_id) or []
        answered = any(a.get("answers") == o.message_id for a in answers)
        if got and got[-1]["status"] == "rejected" and not answered:
            reasons.append(f"ready notice {o.message_id} was rejected by the receiver (AppRec avvist)")
    days = []
    sorted_answers = sorted(answers, key=lambda a: a["at"])
    d = ready
    while d < last:
        said = [a for a in sorted_answers if local_date(a["at"]) <= d]
        latest = said[-1] if said else None
        basis = _basis(latest)
        rate = rates.rate(d.year)
        days.append(
            {
                "date": d.isoformat(),
                "basis": basis,
                "answer": latest.get("message_id") if latest else None,
                "rate": rate,
                "amount": rate,
            }
        )
        d += timedelta(days=1)
    missing = sorted({int(x["date"][:4]) for x in days if x["rate"] is None})
    billable = not reasons
    return {
        "episode": episode.key,
        "readyAt": episode.ready_at,
        "readyDate": ready.isoformat(),
        "end": {"date": end[0].isoformat(), "reason": end[1], "answer": end[2]} if end else None,
        "ongoing": end is None,
        "billable": billable,
        "reasons": reasons,
        "evidence": {
            "readyNotices": [_message(o, receipts) for o in notices],
            "admissionNotices": [
                _message(o, receipts)
                for o in outbound
                if o.message_type == "HELSEOPPL_SOKNAD" and o.dispatch_status in ("N", "M")
            ],
            "deadlines": [ob.public() for ob in own],
            "answers": sorted_answers,
        },
        "days": days,
        "dayCount": len(days),
        "billableDays": len(days) if billable else 0,
        "amount": sum(x["amount"] or 0 for x in days) if billable else 0,
        "missingRates": missing,
    }


def waiting_days(
    state: StayState,
    outbound: list[OutboundRow],
    receipts: dict[str, list[dict[str, Any]]],
    found: list[Obligation],
    rates: RateTable,
    now: datetime,
) -> dict[str, Any]:
    episodes = [episode_days(state, e, outbound, receipts, found, rates, now) for e in state.ready]
    missing = sorted({y for e in episodes if e["billable"] for y in e["missingRates"]})
    return {
        "convention": CONVENTION,
        "currency": rates.currency,
        "episodes": episodes,
        "billableDays": sum(e["billableDays"] for e in episodes),
        "amount": sum(e["amount"] for e in episodes),
        "missingRates": missing,
        "note": (
            f"no rate for {', '.join(map(str, missing))}: those days have no amount "
            "(add the year to the rate table)"
            if missing
            else None
        ),
    }
