"""The HTTP API (described in schemas/openapi.yaml)."""

from __future__ import annotations

from pathlib import Path

import orjson
from aiohttp import web

from adapters.fhir.inbound import decode_message_bundle
from adapters.fhir.inbound_xml import to_xml
from adapters.hl7v2.mapping import key_for
from adapters.problems import InputRejected, Problem
from gateway.auth.caller import caller_of
from gateway.auth.middleware import forbidden
from gateway.compliance.service import item_public
from gateway.http.audit import record
from gateway.http.problems import problem
from gateway.intake.fhir_response import operation_outcome
from gateway.intake.service import Intake
from gateway.pipeline.events import event_from_bundle
from gateway.render.formats import KITH_XML, RENDERERS
from gateway.render.html_view import render_page
from gateway.render.kith_output import KithOutput
from gateway.render.kith_page import kith_page
from gateway.store.base import OutboundRow, Reader, Store

FHIR_JSON = "application/fhir+json"
OPENAPI = Path(__file__).resolve().parents[2] / "schemas" / "openapi.yaml"
MAX_FEED_PAGE = 500

INTAKE = web.AppKey("intake", Intake)
STORE = web.AppKey("store", Store)
MAX_BODY = web.AppKey("max_body", int)
KITH = web.AppKey("kith", KithOutput)
XML_TYPES = ("application/xml", "text/xml")


def _fhir(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=FHIR_JSON)


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def process_message(request: web.Request) -> web.Response:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        oo = operation_outcome([Problem("$", "too-large", f"body over {request.app[MAX_BODY]} bytes")])
        return _fhir(orjson.dumps(oo), 413)
    may_send = caller_of(request).may
    if request.content_type in ("application/fhir+xml", "application/xml", "text/xml"):
        reply = await request.app[INTAKE].fhir_message(body, xml=True, may_send=may_send)
        answer = orjson.loads(reply.body)
        if answer.get("resourceType") == "Bundle":
            return web.Response(body=to_xml(answer), status=reply.status, content_type="application/fhir+xml")
        return _fhir(reply.body, reply.status)
    later = "respond-async" in request.headers.getone("Prefer", "").lower()
    reply = await request.app[INTAKE].fhir_message(body, may_send=may_send, respond_async=later)
    response = _fhir(reply.body, reply.status)
    if reply.status == 202 and reply.outcome is not None:
        response.headers["Content-Location"] = f"/fhir/outcome/{reply.outcome.message_id}"
    return response


OUTCOME_STATUS = {"rejected": 422, "failed": 500}  # else processed: 200


async def fhir_outcome(request: web.Request) -> web.Response:
    """The response Bundle of a FHIR message: 202 while it waits to be processed (it was sent with
    `Prefer: respond-async`), then 200 with the Bundle; 422 with the refusal when the models
    refused it after the 202, 500 when processing failed. Only for the caller's own institution."""
    message_id = request.match_info["message_id"]
    found = await request.app[STORE].read(lambda r: r.inbound_outcome(message_id, with_body=True))
    if found is None or not found[2]:
        return problem(404, "Not found", "no FHIR message with this id")
    status, answer, body = found
    try:
        sender = event_from_bundle(decode_message_bundle(body), "").sender_her
    except InputRejected:
        sender = None
    if not caller_of(request).may(sender):
        return forbidden()
    if status == "accepted":
        return web.json_response({"status": status}, status=202, headers={"Retry-After": "1"})
    return _fhir(answer or b"", OUTCOME_STATUS.get(status, 200))


async def process_hl7v2(request: web.Request) -> web.Response:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return problem(413, "Body too large", f"the limit is {request.app[MAX_BODY]} bytes")
    reply = await request.app[INTAKE].hl7v2_message(body, "hl7v2-http", caller_of(request).may)
    return web.Response(body=reply.body, status=reply.status, content_type="x-application/hl7-v2+er7")


async def hl7v2_outcome(request: web.Request) -> web.Response:
    """What became of an HL7 v2 message: its status and the application acknowledgement that
    processing produced (for a message acknowledged at storage, the answer it could not wait for).
    Asked by MSH-3.1, MSH-4.1 and MSH-10; the caller must act for the sending facility."""
    application = request.query.get("application", "")
    facility = request.query.get("facility", "")
    control_id = request.query.get("control_id", "")
    if not facility or not control_id:
        return problem(400, "Missing query", "facility (MSH-4.1) and control_id (MSH-10) are required")
    if not caller_of(request).may(facility if facility.isdigit() else None):
        return forbidden()
    key = key_for(application, facility, control_id)
    found = await request.app[STORE].read(lambda r: r.inbound_outcome(key))
    if found is None:
        return problem(404, "Not found", "no message with this sender and control id")
    status, ack, _ = found
    return web.json_response(
        {"status": status, "acknowledgement": ack.decode("utf-8", "replace") if ack else None}
    )


INBOUND_STATUSES = ("accepted", "processed", "rejected", "failed")


async def inbound(request: web.Request) -> web.Response:
    """For operators: inbound events by status, newest first; `accepted` is the inbox's backlog,
    `rejected` and `failed` what processing refused after the sender had its ACK or 202."""
    status = request.query.get("status")
    if status is not None and status not in INBOUND_STATUSES:
        return problem(400, "Bad status", f"status is one of {', '.join(INBOUND_STATUSES)}")
    channel = request.query.get("channel")
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), MAX_FEED_PAGE)
    except ValueError:
        return problem(400, "Bad limit", "limit must be a whole number")
    rows = await request.app[STORE].read(lambda r: r.inbound_list(status, channel, limit))
    return web.json_response({"events": rows})


def _feed_entry(row: OutboundRow) -> dict[str, object]:
    return {
        "cursor": row.seq,
        "messageId": row.message_id,
        "messageType": row.message_type,
        "dispatchStatus": row.dispatch_status,
        "conversationId": row.conversation_id,
        "parentId": row.parent_id,
        "recipientKind": row.recipient_kind,
        "created": row.created_at,
        "href": f"/messages/{row.message_id}",
        "page": f"/messages/{row.message_id}/page",
    }


async def feed(request: web.Request) -> web.Response:
    her_id = request.match_info["her_id"]
    if not caller_of(request).may(her_id):
        return forbidden()
    try:
        after = int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "100")), MAX_FEED_PAGE)
    except ValueError:
        return problem(400, "Bad cursor", "'after' and 'limit' must be whole numbers")
    if after < 0 or limit < 1:
        return problem(400, "Bad cursor", "'after' must be >= 0 and 'limit' >= 1")
    rows = await request.app[STORE].read(lambda r: r.feed(her_id, after, limit))
    await record(request, "recipient", [her_id], f"{len(rows)} entries")
    return web.json_response(
        {
            "recipient": her_id,
            "entries": [_feed_entry(r) for r in rows],
            "nextCursor": rows[-1].seq if rows else after,
        }
    )


def wants_kith(request: web.Request) -> bool:
    """`?format=kith` (or kith-xml), or an Accept header that asks for XML before FHIR JSON."""
    fmt = request.query.get("format")
    if fmt is not None:
        return fmt in ("kith", KITH_XML)
    accept = request.headers.get("Accept", "")
    ranked = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return next((t in XML_TYPES for t in ranked if t in XML_TYPES or "json" in t), False)


async def readable_message(request: web.Request) -> OutboundRow | web.Response:
    """The message named in the path, if it exists and is addressed to the caller (then audited)."""
    message_id = request.match_info["message_id"]
    row = await request.app[STORE].read(lambda r: r.outbound(message_id))
    caller = caller_of(request)
    if row is None or row.payload is None:
        # only an administrator learns that an id does not exist; others cannot probe ids
        return problem(404, "No such message") if caller.admin else forbidden()
    if not caller.may(row.recipient_her):
        return forbidden()
    await record(request, "message", [message_id])
    return row


async def message(request: web.Request) -> web.Response:
    row = await readable_message(request)
    if isinstance(row, web.Response):
        return row
    if not wants_kith(request):
        return _fhir(row.payload or b"")
    rendered = await request.app[KITH].get(row.message_id, row.payload or b"")
    if rendered.status == "no-form":
        return problem(406, "No KITH XML form", rendered.errors[0])
    if rendered.body is None:
        return web.json_response(
            {
                "type": "about:blank",
                "title": "KITH XML failed schema validation",
                "status": 422,
                "detail": "the rendering does not validate against the configured schemas; it is not sent",
                "errors": rendered.errors,
            },
            status=422,
            content_type="application/problem+json",
        )
    return web.Response(
        body=rendered.body,
        headers={"Content-Type": RENDERERS[KITH_XML].media_type, "Gateway-Kith-Validation": rendered.status},
    )


async def message_page(request: web.Request) -> web.Response:
    """The same message as a page for a person to read."""
    row = await readable_message(request)
    if isinstance(row, web.Response):
        return row
    if request.query.get("format") in ("kith", KITH_XML):  # the page of the KITH XML as rendered
        rendered = await request.app[KITH].get(row.message_id, row.payload or b"")
        if rendered.body is None:
            return problem(
                406 if rendered.status == "no-form" else 422, "No KITH XML to show", rendered.errors[0]
            )
        text = kith_page(rendered.body)
    else:
        text = render_page(orjson.loads(row.payload or b"{}"))
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


async def stay(request: web.Request) -> web.Response:
    try:
        stay_id = int(request.match_info["stay_id"])
    except ValueError:
        return problem(400, "Bad stay id")

    def query(r: Reader) -> dict[str, object] | None:
        row = r.stay_by_id(stay_id)
        if row is None:
            return None
        timeline = [
            {"kind": "event", "code": e.event_code, "time": e.event_time, "inboundSeq": e.inbound_seq}
            for e in r.stay_events(stay_id)
        ]
        timeline += [
            {
                "kind": "message",
                "code": o.message_type,
                "time": o.created_at,
                "dispatchStatus": o.dispatch_status,
                "messageId": o.message_id,
                "recipient": o.recipient_her,
                "status": o.status,
                "sourceInboundSeq": o.source_inbound_seq,
            }
            for o in r.stay_outbound(stay_id)
        ]
        timeline.sort(key=lambda t: str(t["time"]))
        return {
            "stayId": row.stay_id,
            "status": row.status,
            "patientRef": row.patient_ref,
            "state": row.state,
            "timeline": timeline,
            # what the deadline watcher found: overdue deadlines and escalated held messages
            "compliance": [item_public(i) for i in r.compliance_items(stay_id)],
            "links": {
                "timeline": f"/stays/{stay_id}/timeline",
                "waitingDays": f"/stays/{stay_id}/waiting-days",
            },
        }

    found = await request.app[STORE].read(query)
    if found is None:
        return problem(404, "No such stay")
    await record(request, "stay", [str(stay_id)])
    return web.json_response(found)


async def openapi(_: web.Request) -> web.Response:
    return web.Response(body=OPENAPI.read_bytes(), content_type="application/yaml")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_post("/fhir/$process-message", process_message)
    app.router.add_post("/hl7v2", process_hl7v2)
    app.router.add_get("/hl7v2/outcome", hl7v2_outcome)
    app.router.add_get("/fhir/outcome/{message_id}", fhir_outcome)
    app.router.add_get("/inbound", inbound)
    app.router.add_get("/feed/{her_id}", feed)
    app.router.add_get("/messages/{message_id}", message)
    app.router.add_get("/messages/{message_id}/page", message_page)
    app.router.add_get("/stays/{stay_id}", stay)
    app.router.add_get("/openapi.yaml", openapi)
