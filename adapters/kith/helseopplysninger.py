"""Helseopplysninger ved søknad v1.6 (HELSEOPPL_SOKNAD): "Varsel om innlagt pasient" (content type
9140=1) and its updates (9140=2), to the municipality's allocation office (HISD 80806 §10.1)."""

from __future__ import annotations

from lxml import etree

from adapters.kith.envelope import Element, el, msghead
from adapters.kith.po import (
    PO_NSMAP,
    contact_physician,
    contact_unit,
    diagnoses,
    dispatch,
    journal_notes,
    po,
    stay_events,
)
from adapters.kith.view import OutboundView

HO = "http://www.kith.no/xmlstds/po/HelseopplysningerVedSoknad/2012-04-01"
CONTENT_9140 = {"1": "Varsel om innlagt pasient", "2": "Oppdaterte opplysninger"}


def render(view: OutboundView) -> etree._Element:
    def payload(content: Element) -> None:
        root = etree.SubElement(content, f"{{{HO}}}HelseopplysningerVedSoknad", nsmap={"p5": HO, **PO_NSMAP})
        dispatch(root, view)
        contact_unit(root, view)
        hpr, who = view.ready_decided_by
        contact_physician(root, hpr, who, ("19", "Kontaktlege"))
        kind = view.helseopplysninger_type
        el(
            el(root, po("TypeInnholdIMelding")),
            po("TypeInnhold"),
            V=kind,
            DN=CONTENT_9140.get(kind, ""),
            S="2.16.578.1.12.4.1.1.9140",
        )
        stay_events(root, view)
        diagnoses(root, view)
        journal_notes(root, view)

    return msghead(view, "Helseopplysninger", payload)  # DN of 8279
