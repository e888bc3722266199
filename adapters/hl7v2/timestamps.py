"""HL7 v2 TS/DTM → FHIR dateTime. A time without an offset is local Norwegian time."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")


def to_fhir(value: str) -> str | None:
    """None when the value is not an HL7 timestamp; precision below a day keeps its precision."""
    m = TS.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, offset = m.groups()
    if day is None:
        return f"{year}-{month}" if month else year
    if hour is None:
        try:
            return datetime(int(year), int(month), int(day)).strftime("%Y-%m-%d")
        except ValueError:
            return None
    try:
        naive = datetime(int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    if offset:
        return naive.strftime("%Y-%m-%dT%H:%M:%S") + f"{offset[:3]}:{offset[3:]}"
    return naive.replace(tzinfo=OSLO).isoformat()


def to_date(value: str) -> str | None:
    result = to_fhir(value)
    return result[:10] if result and len(result) >= 10 else None
