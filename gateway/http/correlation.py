"""Correlation ids: each request's log lines carry one, taken from the caller or made here."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.ids import new_id

HEADER = "X-Correlation-ID"
ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def correlation(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(HEADER, "")
    # a caller's id is kept only if it cannot smuggle anything into the logs
    correlation_id = given if ACCEPTABLE.fullmatch(given) else new_id()
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
        response = await handler(request)
    response.headers[HEADER] = correlation_id
    return response
