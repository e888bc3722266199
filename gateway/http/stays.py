"""The coordination view: stays by status, with what is still missing and how long a ready
patient has waited. Patients appear by stay id and pseudonym only: names need authorisation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from gateway.clock import OSLO, parse_fhir_datetime
from gateway.http.audit import record
from gateway.http.problems import problem
from gateway.http.routes import STORE
from gateway.http.subscriptions import CLOCK
from gateway.store.base import StayRow

STATUSES = ("admitted", "ready", "on-leave", "discharged", "died", "admission-cancelled")


def _days_between(start: str, end: datetime) -> int:
    """Calendar days in Norway from start to end (the ready day counts as day one when still waiting)."""
    return (end.astimezone(OSLO).date() - parse_fhir_datetime(start).astimezone(OSLO).date()).days


def summarise(row: StayRow, now: datetime) -> dict[str, Any]:
    state = row.state
    documents = {
        d["kind"] for d in (state.get("documents") or {}).values() if d.get("status") != "entered-in-error"
    }
    ready = [e for e in state.get("ready") or [] if not e.get("cancelled_at")]
    item: dict[str, Any] = {
        "stayId": row.stay_id,
        "status": row.status,
        "patientRef": row.patient_ref,
        "admitted": state.get("admitted_at"),
        "discharged": state.get("discharged_at"),
        "location": state.get("location"),
        "href": f"/stays/{row.stay_id}",
    }
    if ready:
        item["readySince"] = ready[-1]["ready_at"]
        if row.status == "ready":
            item["daysWaitingSinceReady"] = _days_between(ready[-1]["ready_at"], now) + 1
    if row.status == "discharged":
        item["missingDocuments"] = [k for k in ("UTSKRIVNINGSRAPPORT", "EPIKRISE") if k not in documents]
    if held := state.get("held"):  # documents the handover rules hold back (docs/RULES.md)
        item["heldDocuments"] = sorted({h["messageType"] for h in held})
        item["heldReasons"] = sorted({r["ruleId"] for h in held for r in h["reasons"]})
    return item


async def list_stays(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        return problem(400, "Bad status", f"status must be one of {list(STATUSES)}")
    rows = await request.app[STORE].read(lambda r: r.stays(status, 500))
    now = request.app[CLOCK].now()
    await record(request, "stay", [str(row.stay_id) for row in rows], "coordination list")
    return web.json_response({"stays": [summarise(row, now) for row in rows]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/stays", list_stays)
