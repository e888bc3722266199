"""The KITH XML door: `POST /kith/inbound` (AppRec or Dialogmelding, recognised by the root element)
and `GET /kith/inbound` (what came in, by outcome). See docs/KITH-INBOUND.md."""

from __future__ import annotations

from aiohttp import web

from adapters.problems import Problem
from gateway.auth.caller import caller_of
from gateway.errors import answer_for
from gateway.http.problems import problem
from gateway.http.routes import MAX_BODY, STORE
from gateway.intake.kith import KithIntake, problem_reply

KITH_INTAKE = web.AppKey("kith_intake", KithIntake)
STATUSES = ("processed", "unlinked", "patient-mismatch", "rejected", "unknown-message")


async def post_inbound(request: web.Request) -> web.Response:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[MAX_BODY]
        reply = problem_reply(
            answer_for("too-large").http, [Problem("$", "too-large", f"the body is over {limit} bytes")]
        )
    else:
        reply = await request.app[KITH_INTAKE].receive(body, caller_of(request).may)
    return web.Response(body=reply.body, status=reply.status, content_type=reply.content_type)


async def list_inbound(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        return problem(400, "Bad status", f"status is one of {', '.join(STATUSES)}")
    rows = await request.app[STORE].read(lambda r: r.kith_inbound(status, 1000))
    return web.json_response({"documents": rows})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/kith/inbound", post_inbound)
    app.router.add_get("/kith/inbound", list_inbound)
