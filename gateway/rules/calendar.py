"""Local time facts a rule may test: Oslo wall-clock time, weekday and Norwegian public holidays."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

import holidays

from gateway.clock import OSLO, parse_fhir_datetime


@lru_cache(maxsize=16)
def _holidays(year: int) -> holidays.HolidayBase:
    # Sundays are not "public holidays" for these rules: the Friday rule covers weekends.
    return holidays.Norway(years=(year, year + 1), include_sundays=False)


def local_facts(utc_text: str | None) -> dict[str, Any] | None:
    """weekday (1 = Monday … 7 = Sunday), localHour and localMinute in Oslo, holiday, beforeHoliday."""
    if not utc_text:
        return None
    local = parse_fhir_datetime(utc_text).astimezone(OSLO)
    day = local.date()
    days = _holidays(day.year)
    return {
        "localDate": day.isoformat(),
        "weekday": day.isoweekday(),
        "localHour": local.hour,
        "localMinute": local.minute,
        "holiday": day in days,
        "beforeHoliday": (day + timedelta(days=1)) in days,
    }
