"""Which scope each route needs: one line per route. A route missing here is refused (default deny);
tests/test_auth.py fails when a served route has no line.

Organisation rules (which HER-ids a caller acts for) are checked by the handlers, which know
whose data a request touches; they all use Caller.may and answer with `forbidden()`.
"""

from __future__ import annotations

from gateway.auth.scopes import ADMIN, EVENTS_POST, MESSAGES_READ, REPORTS_READ, SUBSCRIPTIONS_MANAGE

OPEN = ""  # no token needed

POLICIES: dict[tuple[str, str], str] = {
    ("GET", "/health"): OPEN,
    ("GET", "/openapi.yaml"): OPEN,
    ("GET", "/.well-known/jwks.json"): OPEN,  # served in development mode only
    ("POST", "/fhir/$process-message"): EVENTS_POST,
    ("POST", "/hl7v2"): EVENTS_POST,
    ("GET", "/hl7v2/outcome"): EVENTS_POST,  # a sender reads what became of its own messages
    ("GET", "/fhir/outcome/{message_id}"): EVENTS_POST,
    ("GET", "/inbound"): ADMIN,  # every sender's events, by status: operators only
    ("GET", "/feed/{her_id}"): MESSAGES_READ,
    ("GET", "/messages/{message_id}"): MESSAGES_READ,
    ("GET", "/messages/{message_id}/page"): MESSAGES_READ,
    ("GET", "/messages/{message_id}/receipts"): MESSAGES_READ,
    ("POST", "/receipts"): MESSAGES_READ,
    ("GET", "/receipts/missing"): REPORTS_READ,
    ("GET", "/receipts/unknown"): ADMIN,  # receipts nobody can be matched to: only an operator
    ("GET", "/metrics"): REPORTS_READ,  # counts only, no patient data
    ("GET", "/stays"): ADMIN,  # stays do not record their hospital yet: operators only
    ("GET", "/stays/{stay_id}"): ADMIN,
    ("POST", "/subscriptions"): SUBSCRIPTIONS_MANAGE,
    ("GET", "/subscriptions/{subscription_id}"): SUBSCRIPTIONS_MANAGE,
    ("DELETE", "/subscriptions/{subscription_id}"): SUBSCRIPTIONS_MANAGE,
    ("POST", "/subscriptions/{subscription_id}/rotate-secret"): SUBSCRIPTIONS_MANAGE,
    ("GET", "/subscriptions/{subscription_id}/deliveries"): SUBSCRIPTIONS_MANAGE,
    ("POST", "/subscriptions/{subscription_id}/redeliver"): SUBSCRIPTIONS_MANAGE,
    ("GET", "/subscriptions/{subscription_id}/events"): SUBSCRIPTIONS_MANAGE,
    ("POST", "/subscriptions/{subscription_id}/ack"): SUBSCRIPTIONS_MANAGE,
    ("GET", "/audit"): ADMIN,
    # a municipality's AppRec or Dialogmelding about its own messages, like POST /receipts
    ("POST", "/kith/inbound"): MESSAGES_READ,
    ("GET", "/kith/inbound"): ADMIN,  # what came in, across every party: operators only
    # compliance (docs/COMPLIANCE.md): per-stay views follow GET /stays/{id}; the period report is
    # counts per department and municipality, no patient data
    ("GET", "/stays/{stay_id}/timeline"): ADMIN,
    ("GET", "/stays/{stay_id}/waiting-days"): ADMIN,
    ("GET", "/overdue"): ADMIN,
    ("GET", "/reports/compliance"): REPORTS_READ,
}


def policy_for(method: str, path: str) -> str | None:
    """The scope a route needs, OPEN, or None when the route has no policy (refused)."""
    return POLICIES.get(("GET" if method == "HEAD" else method, path))
