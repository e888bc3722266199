"""When each scenario input reaches the gateway, so a replay happens at the scenario's own times.

An in-process replay runs the gateway on a clock that is moved to each input's arrival before it
is sent: the input's own time (FHIR event time or Bundle.timestamp, HL7 EVN-2 or MSH-7, a KITH
document's GenDate), or the time `scenario.yaml` gives under `arrivals` (an event that reaches
the gateway late). Deadlines, and when each notice counts as sent, are then the scenario's, not
the day the replay ran.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from adapters.hl7v2.message import Message
from adapters.hl7v2.timestamps import to_fhir
from gateway.clock import parse_fhir_datetime

_GEN_DATE = re.compile(rb"<(?:\w+:)?GenDate>([^<]+)</(?:\w+:)?GenDate>")
_EVENT_TIME = "https://gateway.helsefellesskap.no/fhir/event-time"


def own_time(path: Path, raw: bytes) -> datetime | None:
    """The time an input says it was made, or None when it says none."""
    try:
        if path.suffix == ".json":
            bundle: dict[str, Any] = orjson.loads(raw)
            header = bundle["entry"][0]["resource"]
            ext = next((e for e in header.get("extension") or () if e.get("url") == _EVENT_TIME), None)
            text = (ext or {}).get("valueDateTime") or bundle.get("timestamp")
            return parse_fhir_datetime(text) if text else None
        if path.suffix == ".hl7":
            msg = Message.parse(raw)
            text = to_fhir(msg.get("EVN-2") or msg.get("MSH-7"))
            return parse_fhir_datetime(text) if text and len(text) > 10 else None
        if path.suffix == ".xml":
            found = _GEN_DATE.search(raw)
            return parse_fhir_datetime(found.group(1).decode()) if found else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return None


# an input reaches the gateway a moment after it was made: so the gateway's own timestamps never
# equal a clinical time, and the replay can tell them apart when it normalises them
TRANSIT = timedelta(seconds=1)


def arrival(path: Path, raw: bytes, arrivals: dict[str, Any]) -> datetime | None:
    """`scenario.yaml`'s arrival for this file, else its own time, plus the transit second (UTC)."""
    given = arrivals.get(path.name)
    when = parse_fhir_datetime(str(given)) if given else own_time(path, raw)
    return (when + TRANSIT).astimezone(UTC) if when else None
