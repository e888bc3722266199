"""Structured JSON logs, one line per event, with a correlation id and no patient data.

Log calls pass identifiers and codes only; the last processor is a guard that drops any value
that looks like an 11-digit person number, in case a future call gets that wrong.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import orjson
import structlog

PERSON_NUMBER = re.compile(r"(?<!\d)\d{6}\s?\d{5}(?!\d)")


def redact_person_numbers(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and PERSON_NUMBER.search(value):
            event[key] = PERSON_NUMBER.sub("[redacted]", value)
    return event


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure(level: str = "info", stream: Any = None) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_person_numbers,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
