"""Subscriptions: who wants which recipients' messages, pushed to an endpoint or pulled from the feed."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.fhir import codes
from gateway.auth.caller import caller_of
from gateway.auth.middleware import forbidden
from gateway.clock import Clock, iso
from gateway.delivery.pull import NewMessages
from gateway.delivery.signing import new_secret
from gateway.delivery.webhooks import Deliverer
from gateway.directory.base import Directory
from gateway.http.audit import record
from gateway.http.problems import problem
from gateway.http.routes import STORE
from gateway.ids import new_id
from gateway.store.base import Subscription, Tx

CLOCK = web.AppKey("clock", Clock)
DELIVERER = web.AppKey("deliverer", Deliverer)
NEW_MESSAGES = web.AppKey("new_messages", NewMessages)
DIRECTORY = web.AppKey("directory", Directory)
# "fhir+json" is the earlier spelling of "fhir-json"
FORMATS = ("fhir-json", "kith-xml", "fhir+json")


def default_format(directory: Directory, her_ids: list[str]) -> str:
    """Without a `format`, a subscription gets its recipients' preference held in the directory:
    KITH XML when every one of them prefers it, else FHIR JSON."""
    prefs = {directory.preferred_format(h) for h in her_ids}
    return "kith-xml" if prefs == {"kith"} else "fhir-json"


def _view(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.subscription_id,
        "herIds": sub.her_ids,
        "messageTypes": sub.message_types,
        "format": sub.format,
        "mode": sub.mode,
        "endpoint": sub.endpoint,
        "status": sub.status,
        "created": sub.created_at,
    }


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    her_ids = body.get("herIds")
    if (
        not isinstance(her_ids, list)
        or not her_ids
        or not all(isinstance(h, str) and h.isdigit() for h in her_ids)
    ):
        return "'herIds' must be a non-empty list of HER-ids (digits)"
    types = body.get("messageTypes", [])
    if not isinstance(types, list) or any(t not in codes.MESSAGE_TYPES for t in types):
        return f"'messageTypes' must be a list of {sorted(codes.MESSAGE_TYPES)}"
    if body.get("format", "fhir-json") not in FORMATS:
        return f"'format' must be one of {list(FORMATS)}"
    mode = body.get("mode", "push")
    if mode not in ("push", "pull"):
        return "'mode' must be 'push' or 'pull'"
    endpoint = body.get("endpoint")
    if mode == "push" and not (isinstance(endpoint, str) and endpoint.startswith(("https://", "http://"))):
        return "a push subscription needs an http(s) 'endpoint'"
    certificate = body.get("certificate")
    if certificate is not None:
        try:
            cert = x509.load_pem_x509_certificate(str(certificate).encode())
        except ValueError:
            return "'certificate' must be a PEM X.509 certificate"
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            return "'certificate' must carry an RSA key (CMS key transport)"
    return None


async def _json(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None


async def create(request: web.Request) -> web.Response:
    body = await _json(request)
    if (error := _validate(body)) is not None:
        return problem(422, "Invalid subscription", error)
    if not caller_of(request).may_all(body["herIds"]):
        return forbidden()  # one may subscribe only to one's own recipients
    secret = new_secret()
    sub = Subscription(
        new_id(),
        body["herIds"],
        body.get("messageTypes", []),
        body.get("format") or default_format(request.app[DIRECTORY], body["herIds"]),
        body.get("mode", "push"),
        body.get("endpoint"),
        [secret],
        "active",
        iso(request.app[CLOCK].now()),
        body.get("certificate"),
    )
    await request.app[STORE].write(lambda tx: tx.create_subscription(sub))
    # the secret is shown once, here; afterwards only its holder knows it
    return web.json_response({**_view(sub), "secret": secret}, status=201)


async def _find(request: web.Request) -> Subscription | web.Response:
    """The subscription in the path, if the caller acts for every recipient it covers."""
    sub_id = request.match_info["subscription_id"]
    sub = await request.app[STORE].read(lambda r: r.subscription(sub_id))
    caller = caller_of(request)
    if sub is None:
        return problem(404, "No such subscription") if caller.admin else forbidden()
    if not caller.may_all(sub.her_ids):
        return forbidden()
    return sub


async def show(request: web.Request) -> web.Response:
    sub = await _find(request)
    return sub if isinstance(sub, web.Response) else web.json_response(_view(sub))


async def disable(request: web.Request) -> web.Response:
    sub = await _find(request)
    if isinstance(sub, web.Response):
        return sub
    await request.app[STORE].write(lambda tx: tx.update_subscription(sub.subscription_id, status="disabled"))
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret; the previous one stays valid beside it until the next rotation."""
    sub = await _find(request)
    if isinstance(sub, web.Response):
        return sub
    secret = new_secret()
    await request.app[STORE].write(
        lambda tx: tx.update_subscription(sub.subscription_id, secrets=[secret, sub.secrets[0]])
    )
    return web.json_response({"id": sub.subscription_id, "secret": secret})


async def deliveries(request: web.Request) -> web.Response:
    sub = await _find(request)
    if isinstance(sub, web.Response):
        return sub
    status = request.query.get("status")
    if status not in (None, "pending", "delivered", "dead"):
        return problem(400, "Bad status", "status must be pending, delivered or dead")
    rows = await request.app[STORE].read(lambda r: r.deliveries(sub.subscription_id, status, 500))
    return web.json_response({"subscription": sub.subscription_id, "deliveries": rows})


async def redeliver(request: web.Request) -> web.Response:
    """Dead deliveries again: the listed message ids, or all of them."""
    sub = await _find(request)
    if isinstance(sub, web.Response):
        return sub
    body = await _json(request) if request.can_read_body else {}
    ids = (body or {}).get("messageIds")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        return problem(422, "Invalid request", "'messageIds' must be a list of message ids")
    now = iso(request.app[CLOCK].now())

    def unit(tx: Tx) -> int:
        return tx.redeliver(sub.subscription_id, ids, now)

    count = await request.app[STORE].write(unit)
    request.app[DELIVERER].wake()
    return web.json_response({"requeued": count})


async def events(request: web.Request) -> web.Response:
    """The pull feed: this subscription's messages by event number; waits up to `wait` seconds
    (at most 30) for something new when there is nothing after the cursor."""
    sub = await _find(request)
    if isinstance(sub, web.Response):
        return sub
    try:
        after = int(request.query.get("after", "0"))
        limit = min(int(request.query.get("limit", "100")), 500)
        wait = min(float(request.query.get("wait", "0")), 30.0)
    except ValueError:
        return problem(400, "Bad query", "after, limit and wait must be numbers")
    rows = await request.app[STORE].read(lambda r: r.events(sub.subscription_id, after, limit))
    if not rows and wait > 0:
        await request.app[NEW_MESSAGES].wait(wait)
        rows = await request.app[STORE].read(lambda r: r.events(sub.subscription_id, after, limit))
    await record(request, "message", [row["messageId"] for row in rows], f"pull {sub.subscription_id}")
    return web.json_response(
        {
            "subscription": sub.subscription_id,
            "events": rows,
            "nextCursor": rows[-1]["eventNumber"] if rows else after,
        }
    )


async def acknowledge(request: web.Request) -> web.Response:
    """A pull subscriber confirms it has everything up to an event number."""
    sub = await _find(request)
    if isinstance(sub, web.Response):
        return sub
    body = await _json(request)
    up_to = body.get("upTo") if isinstance(body, dict) else None
    if not isinstance(up_to, int) or up_to < 1:
        return problem(422, "Invalid acknowledgement", "'upTo' must be an event number")
    now = iso(request.app[CLOCK].now())
    count = await request.app[STORE].write(lambda tx: tx.acknowledge(sub.subscription_id, up_to, now))
    return web.json_response({"acknowledged": count})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/subscriptions/{subscription_id}/events", events)
    app.router.add_post("/subscriptions/{subscription_id}/ack", acknowledge)
    app.router.add_post("/subscriptions", create)
    app.router.add_get("/subscriptions/{subscription_id}", show)
    app.router.add_delete("/subscriptions/{subscription_id}", disable)
    app.router.add_post("/subscriptions/{subscription_id}/rotate-secret", rotate_secret)
    app.router.add_get("/subscriptions/{subscription_id}/deliveries", deliveries)
    app.router.add_post("/subscriptions/{subscription_id}/redeliver", redeliver)
