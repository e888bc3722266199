"""One outbound FHIR message Bundle → the national KITH XML message for its type.

LEGEMIDDELLISTE has no KITH form of its own: the same reconciled medications travel inside the
Utskrivningsrapport (epj3:Legemiddelinfo) and the Epikrise (InfItem/Medication); see docs/KITH.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from adapters.kith import dialogmelding, epikrise, helseopplysninger, plo, utskrivningsrapport
from adapters.kith.view import BundleShapeError, OutboundView

MEDIA_TYPE = "application/xml"

_RENDERERS: dict[str, Callable[[OutboundView], etree._Element]] = {
    **{kind: plo.render for kind in plo.TYPES},
    "HELSEOPPL_SOKNAD": helseopplysninger.render,
    "UTSKRIVNINGSRAPPORT": utskrivningsrapport.render,
    "EPIKRISE": epikrise.render,
    "DIALOG_NOTAT": dialogmelding.render,
}
KITH_TYPES = frozenset(_RENDERERS)


class NoKithForm(BundleShapeError):
    """The message type has no KITH XML form (it is sent as FHIR only)."""


def render_element(bundle: dict[str, Any]) -> etree._Element:
    view = OutboundView(bundle)
    renderer = _RENDERERS.get(view.message_type)
    if renderer is None:
        raise NoKithForm(f"{view.message_type or 'unknown type'} has no KITH XML form")
    return renderer(view)


def serialize(document: etree._Element) -> bytes:
    """UTF-8 with an XML declaration."""
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


def render_kith(bundle: dict[str, Any]) -> bytes:
    """The KITH XML message for one outbound Bundle."""
    return serialize(render_element(bundle))
