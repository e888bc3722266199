"""Compliance routes: a stay's timeline and waiting days, the overdue list, the period report.

Plain aiohttp routes registered in `add_routes`, so access policies can be attached in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.compliance.report import to_csv
from gateway.compliance.service import Compliance, PeriodError, parse_period
from gateway.http.audit import record
from gateway.http.problems import problem
from gateway.render.compliance_html import render_report

COMPLIANCE = web.AppKey("compliance", Compliance)
CSP = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
ITEM_KINDS = ("overdue", "escalated")


def _stay_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["stay_id"])
    except ValueError:
        return None


async def _stay_view(
    request: web.Request, view: Callable[[int], Awaitable[dict[str, Any] | None]], detail: str
) -> web.Response:
    """One derived view of one stay; a read of a stay, audited like GET /stays/{id}."""
    stay_id = _stay_id(request)
    if stay_id is None:
        return problem(400, "Bad stay id", "a stay id is a whole number")
    found = await view(stay_id)
    if found is None:
        return problem(404, "No such stay")
    await record(request, "stay", [str(stay_id)], detail)
    return web.json_response(found)


async def stay_timeline(request: web.Request) -> web.Response:
    return await _stay_view(request, request.app[COMPLIANCE].timeline, "timeline")


async def stay_waiting_days(request: web.Request) -> web.Response:
    return await _stay_view(request, request.app[COMPLIANCE].waiting_days, "waiting days")


async def overdue(request: web.Request) -> web.Response:
    """Open overdue deadlines and escalated held messages, oldest deadline first; ?all=true for closed too."""
    kind = request.query.get("kind")
    if kind is not None and kind not in ITEM_KINDS:
        return problem(400, "Bad kind", f"kind must be one of {list(ITEM_KINDS)}")
    show_all = request.query.get("all", "false")
    if show_all not in ("true", "false"):
        return problem(400, "Bad all", "all must be true or false")
    items = await request.app[COMPLIANCE].items(open_only=show_all == "false", kind=kind)
    return web.json_response({"items": items})


async def compliance_report(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "html"):
        return problem(400, "Bad format", "format must be json, csv or html")
    try:
        start, end = parse_period(request.query.get("from"), request.query.get("to"))
    except PeriodError as exc:
        return problem(400, "Bad period", str(exc))
    report = await request.app[COMPLIANCE].report(start, end)
    if fmt == "csv":
        name = f"compliance-{start.isoformat()}-{end.isoformat()}.csv"
        return web.Response(
            text=to_csv(report),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    if fmt == "html":
        return web.Response(text=render_report(report), content_type="text/html", headers=CSP)
    return web.json_response(report)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/stays/{stay_id}/timeline", stay_timeline)
    app.router.add_get("/stays/{stay_id}/waiting-days", stay_waiting_days)
    app.router.add_get("/overdue", overdue)
    app.router.add_get("/reports/compliance", compliance_report)
