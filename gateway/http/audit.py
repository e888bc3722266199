"""The audit trail of reads: every handler that hands out patient data records who read what
before answering, and administrators query the log (GET /audit). Nothing in the API changes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from gateway.auth.caller import caller_of
from gateway.clock import Clock, iso
from gateway.http.problems import problem
from gateway.store.base import AuditEntry, Store

MAX_PAGE = 1000


@dataclass
class Auditor:
    store: Store
    clock: Clock


AUDITOR = web.AppKey("auditor", Auditor)


async def record(
    request: web.Request, subject_kind: str, subjects: Iterable[str], detail: str | None = None
) -> None:
    """Append one entry per subject read, committed before the data leaves."""
    caller = caller_of(request)
    resource = request.match_info.route.resource
    action = f"{request.method} {resource.canonical if resource else request.path}"
    auditor = request.app[AUDITOR]
    now = iso(auditor.clock.now())
    entries = [
        AuditEntry(now, caller.client_id, caller.organisation, action, subject_kind, str(s), detail)
        for s in subjects
    ]
    if entries:
        await auditor.store.write(lambda tx: tx.add_audit(entries))


async def query(request: web.Request) -> web.Response:
    q = request.query
    try:
        after = int(q.get("after", "0"))
        limit = min(int(q.get("limit", "100")), MAX_PAGE)
    except ValueError:
        return problem(400, "Bad query", "'after' and 'limit' must be whole numbers")
    rows = await request.app[AUDITOR].store.read(
        lambda r: r.audit(
            client_id=q.get("clientId"),
            subject_kind=q.get("subjectKind"),
            subject=q.get("subject"),
            since=q.get("since"),
            after=after,
            limit=limit,
        )
    )
    return web.json_response({"entries": rows, "nextCursor": rows[-1]["seq"] if rows else after})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/audit", query)
