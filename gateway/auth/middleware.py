"""One middleware authenticates every request and enforces the route's scope and rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.auth.caller import CALLER
from gateway.auth.policy import OPEN, policy_for
from gateway.auth.ratelimit import RateLimiter, retry_after
from gateway.auth.tokens import InvalidToken, Verifier
from gateway.http.problems import problem

log = structlog.get_logger("auth")

VERIFIER = web.AppKey("verifier", Verifier)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def unauthorized(error: str | None = None) -> web.Response:
    """401 with the RFC 6750 challenge; why the token failed is logged, not told."""
    challenge = 'Bearer realm="gateway"' + (f', error="{error}"' if error else "")
    response = problem(401, "Unauthorized", "a valid bearer access token is required")
    response.headers["WWW-Authenticate"] = challenge
    return response


def forbidden() -> web.Response:
    """The one refusal for a missing scope or organisation: the same body whatever was refused,
    so it tells nothing about another party's data."""
    return problem(403, "Forbidden", "the access token does not permit this request")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:  # no such route: 404/405 say nothing about data
        return await handler(request)
    canonical = match.route.resource.canonical if match.route.resource else ""
    needed = policy_for(request.method, canonical)
    if needed is None:
        log.error("route_without_policy", method=request.method, route=canonical)
        return forbidden()
    if needed == OPEN:
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return unauthorized()
    try:
        caller = await request.app[VERIFIER].verify(token.strip())
    except InvalidToken as exc:
        log.info("token_refused", reason=str(exc), route=canonical)
        return unauthorized("invalid_token")
    if not caller.has(needed):
        log.info("scope_missing", client_id=caller.client_id, route=canonical, needed=needed)
        return forbidden()
    limiter = request.app[RATE_LIMITER]
    if limiter.enabled and (wait := limiter.take(caller.client_id)) > 0:
        response = problem(429, "Too many requests", "this client is over its rate limit; retry later")
        response.headers["Retry-After"] = retry_after(wait)
        return response
    request[CALLER] = caller
    with structlog.contextvars.bound_contextvars(client_id=caller.client_id):
        return await handler(request)
