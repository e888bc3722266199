"""RFC 9457 problem details for the non-FHIR endpoints: what went wrong, never whose data."""

from __future__ import annotations

from aiohttp import web


def problem(status: int, title: str, detail: str | None = None) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return web.json_response(body, status=status, content_type="application/problem+json")
