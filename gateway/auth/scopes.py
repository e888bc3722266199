"""The scopes a token can carry, one per capability (docs/SECURITY.md lists them)."""

from __future__ import annotations

EVENTS_POST = "gateway:events.post"  # send discharge events (FHIR, HL7 v2) for one's own institution
MESSAGES_READ = "gateway:messages.read"  # read one's own recipients' feed, messages, pages; post receipts
SUBSCRIPTIONS_MANAGE = "gateway:subscriptions.manage"  # subscribe one's own recipients, pull, ack, redeliver
REPORTS_READ = "gateway:reports.read"  # operational reports: metrics, missing/unknown receipts, stays
ADMIN = "gateway:admin"  # every capability for every organisation, and the audit log

ALL = (EVENTS_POST, MESSAGES_READ, SUBSCRIPTIONS_MANAGE, REPORTS_READ, ADMIN)
