"""The wire formats an outbound message can be sent in: one interface, two implementations.

The outbound FHIR Bundle (pipeline/outbound.py) is the canonical message. FHIR JSON is that Bundle
as stored; KITH XML is the national message rendered from it (adapters/kith/).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from adapters.kith.render import render_kith

FHIR_JSON, KITH_XML = "fhir-json", "kith-xml"
# what subscriptions and the directory may say → the format's one name
ALIASES = {
    "fhir+json": FHIR_JSON,
    "fhir-json": FHIR_JSON,
    "fhir": FHIR_JSON,
    "kith-xml": KITH_XML,
    "kith": KITH_XML,
}


class Renderer(Protocol):
    name: str
    media_type: str

    def render(self, bundle: dict[str, Any]) -> bytes: ...


class FhirJson:
    name, media_type = FHIR_JSON, "application/fhir+json"

    def render(self, bundle: dict[str, Any]) -> bytes:
        return orjson.dumps(bundle)


class KithXml:
    name, media_type = KITH_XML, "application/xml; charset=utf-8"

    def render(self, bundle: dict[str, Any]) -> bytes:
        return render_kith(bundle)


RENDERERS: dict[str, Renderer] = {FHIR_JSON: FhirJson(), KITH_XML: KithXml()}


def format_name(value: str | None) -> str:
    """The canonical name of a format as a subscription or the directory spells it."""
    return ALIASES.get((value or FHIR_JSON).lower(), FHIR_JSON)
