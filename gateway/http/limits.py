"""Slow clients: a request body must arrive within a deadline, read before any handler sees it.

(A client trickling its request line and headers is closed by aiohttp's keep-alive timer, which
runs from the moment a connection opens until its first request is complete: `http_idle_timeout`.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.http.problems import problem

log = structlog.get_logger("http")

BODY_TIMEOUT = web.AppKey("body_timeout", float)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    # a declared length over the limit is left to the handler, which refuses it without reading
    if request.body_exists and (request.content_length or 0) <= request.client_max_size:
        try:
            async with asyncio.timeout(request.app[BODY_TIMEOUT]):
                await request.read()  # kept by aiohttp: the handler's read() returns it
        except TimeoutError:
            log.warning("slow_body_refused")
            return problem(408, "Request timeout", "the request body did not arrive in time")
        except web.HTTPRequestEntityTooLarge:
            return problem(413, "Body too large", f"the limit is {request.client_max_size} bytes")
    return await handler(request)
