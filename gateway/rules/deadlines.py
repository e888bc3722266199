"""Timing rules: when a deadline falls and whether it was met (a pure function of times).

Watching deadlines as time passes is the deadline watcher's job (another issue); this is what
it and the tests use to read a timing rule the same way.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from gateway.clock import OSLO, parse_fhir_datetime
from gateway.pipeline.stay import StayState
from gateway.rules.model import Deadline

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def duration(text: str) -> timedelta:
    """The subset of ISO 8601 durations rule packs use: days, hours, minutes (P1D, PT24H, PT90M)."""
    m = _DURATION.match(text)
    if not m or text in ("P", "PT"):
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def due_at(deadline: Deadline, start: datetime) -> datetime:
    """`same-day` ends at the next midnight in Oslo; a duration counts from the event."""
    if deadline.within == "same-day":
        local = start.astimezone(OSLO)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), OSLO)
        return midnight
    return start + duration(deadline.within)


def start_of(deadline: Deadline, state: StayState) -> datetime | None:
    """The timeline event a deadline counts from; `sent` is per message, so it comes from the ledger."""
    episode = state.current_ready
    text = {
        "admitted": state.admitted_at,
        "ready": episode.ready_at if episode else None,
        "discharged": state.discharged_at,
        "died": state.died_at,
    }.get(deadline.after)
    return parse_fhir_datetime(text) if text else None


def verdict(deadline: Deadline, start: datetime, done_at: datetime | None, now: datetime) -> str:
    """met | missed | pending."""
    due = due_at(deadline, start)
    if done_at is not None:
        return "met" if done_at <= due else "missed"
    return "missed" if now > due else "pending"
