"""Structured JSON logs, one line per event, with a correlation id and no patient data.

Log calls pass identifiers and codes only; the last processor is a guard that replaces any value
that looks like an 11-digit person number, in case a future call gets that wrong: with its keyed
pseudonym when the gateway's key is given (operators can still correlate), else "[redacted]".
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any

import orjson
import structlog

Processor = Callable[[Any, str, dict[str, Any]], dict[str, Any]]
PERSON_NUMBER = re.compile(r"(?<!\d)\d{6}\s?\d{5}(?!\d)")


def person_number_guard(pseudonymize: Callable[[str], str] | None = None) -> Processor:
    def replace(match: re.Match[str]) -> str:
        return pseudonymize(match.group().replace(" ", "")) if pseudonymize else "[redacted]"

    def guard(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        for key, value in event.items():
            if isinstance(value, str) and PERSON_NUMBER.search(value):
                event[key] = PERSON_NUMBER.sub(replace, value)
        return event

    return guard


redact_person_numbers = person_number_guard()


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure(
    level: str = "info", stream: Any = None, pseudonymize: Callable[[str], str] | None = None
) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            person_number_guard(pseudonymize),
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
