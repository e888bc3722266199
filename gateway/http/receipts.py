"""Receipts from recipients, linked to the messages they answer, and the ones that never came.

A FHIR acknowledgement is a message Bundle whose MessageHeader.response names our message id
(MedCom and FHIR messaging do it this way): ok, fatal-error (rejected) or transient-error.
AppRec XML arrives at `POST /kith/inbound` (gateway/intake/kith.py) and lands in the same table:
ok, rejected (with the 8221 error codes and texts) or ok-with-errors.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from aiohttp import web

from gateway.auth.caller import caller_of
from gateway.auth.middleware import forbidden
from gateway.clock import iso
from gateway.http.audit import record
from gateway.http.problems import problem
from gateway.http.routes import STORE, readable_message
from gateway.http.subscriptions import CLOCK
from gateway.metrics import CONTENT_TYPE, Metrics
from gateway.store.base import Reader, Tx

RECEIPT_DEADLINE = web.AppKey("receipt_deadline", float)  # hours
METRICS = web.AppKey("metrics", Metrics)
STATUS = {"ok": "ok", "fatal-error": "rejected", "transient-error": "transient"}


def _parse_fhir_ack(body: Any) -> tuple[str, str, list[dict[str, str]], str | None] | str:
    """(answered message id, status, errors, sender) or a reason it is not an acknowledgement."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or body.get("type") != "message":
        return "expected a FHIR message Bundle"
    entries = body.get("entry") or []
    header = (entries[0] or {}).get("resource") if entries and isinstance(entries[0], dict) else None
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
        return "the first entry must be a MessageHeader"
    response = header.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("identifier"), str):
        return "MessageHeader.response.identifier must name the message answered"
    if response.get("code") not in STATUS:
        return "MessageHeader.response.code must be ok, transient-error or fatal-error"
    errors = []
    for entry in entries[1:]:
        res = (entry or {}).get("resource") or {}
        if res.get("resourceType") == "OperationOutcome":
            for issue in res.get("issue") or []:
                details = (issue.get("details") or {}).get("coding") or [{}]
                errors.append(
                    {
                        "code": str(details[0].get("code") or issue.get("code", "")),
                        "text": str(issue.get("diagnostics") or (issue.get("details") or {}).get("text", "")),
                    }
                )
    sender = ((header.get("sender") or {}).get("identifier") or {}).get("value")
    return response["identifier"], STATUS[response["code"]], errors, sender


async def post_receipt(request: web.Request) -> web.Response:
    if request.content_type not in ("application/fhir+json", "application/json"):
        return problem(
            415, "Unsupported receipt format", "send a FHIR acknowledgement as application/fhir+json"
        )
    raw = await request.read()
    try:
        parsed = _parse_fhir_ack(orjson.loads(raw))
    except orjson.JSONDecodeError:
        parsed = "not valid JSON"
    if isinstance(parsed, str):
        return problem(422, "Not a receipt", parsed)
    message_id, status, errors, sender = parsed
    # a receipt comes from the message's recipient: the caller must act for it (and for the sender named)
    caller = caller_of(request)
    answered = await request.app[STORE].read(lambda r: r.outbound(message_id))
    if not caller.may(answered.recipient_her if answered else sender) or (sender and not caller.may(sender)):
        return forbidden()
    now = iso(request.app[CLOCK].now())

    def unit(tx: Tx) -> bool:
        return tx.add_receipt(message_id, status, errors, sender, "fhir", now, raw)

    known = await request.app[STORE].write(unit)
    # a receipt for a message we never sent is kept and reported, not dropped
    return web.json_response(
        {"messageId": message_id, "status": status, "known": known}, status=201 if known else 202
    )


async def message_receipts(request: web.Request) -> web.Response:
    row = await readable_message(request)
    if isinstance(row, web.Response):
        return row
    message_id = row.message_id
    rows = await request.app[STORE].read(lambda r: r.receipts_for(message_id))
    # the latest receipt decides (a receipt is final, but a resent message may be answered again)
    status = rows[-1]["status"] if rows else "none"
    return web.json_response({"messageId": message_id, "receiptStatus": status, "receipts": rows})


async def missing(request: web.Request) -> web.Response:
    """Messages with no receipt after the deadline: the alert list."""
    try:
        hours = float(request.query.get("olderThanHours", request.app[RECEIPT_DEADLINE]))
    except ValueError:
        return problem(400, "Bad olderThanHours")
    before = iso(request.app[CLOCK].now() - timedelta(hours=hours))
    rows = await request.app[STORE].read(lambda r: r.missing_receipts(before, 1000))
    caller = caller_of(request)
    rows = [row for row in rows if caller.may(row["recipient"])]  # one's own recipients only
    await record(request, "message", [row["messageId"] for row in rows], "missing receipt")
    return web.json_response({"olderThanHours": hours, "messages": rows})


async def unknown(request: web.Request) -> web.Response:
    rows = await request.app[STORE].read(lambda r: r.unknown_receipts(1000))
    return web.json_response({"receipts": rows})


async def metrics(request: web.Request) -> web.Response:
    before = iso(request.app[CLOCK].now() - timedelta(hours=request.app[RECEIPT_DEADLINE]))

    def counts(r: Reader) -> tuple[tuple[dict[str, int], int, int], dict[tuple[str, str], int], int]:
        return r.operational_counts(before), r.open_item_counts(), r.accepted_count()

    (deliveries, missing_receipts, held), open_items, inbox = await request.app[STORE].read(counts)
    body = request.app[METRICS].render(deliveries, missing_receipts, held, open_items, inbox)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/receipts", post_receipt)
    app.router.add_get("/receipts/missing", missing)
    app.router.add_get("/receipts/unknown", unknown)
    app.router.add_get("/messages/{message_id}/receipts", message_receipts)
