"""Utskrivningsrapport: TverrfagligEpikrise v1.6 with content type 9139=11 (HIS 1148), medications in
the structured EPJ medication component (epj3:Legemiddelinfo)."""

from __future__ import annotations

from lxml import etree

from adapters.kith.envelope import Element, el, msghead
from adapters.kith.po import (
    EPJ3,
    M1,
    PO_NSMAP,
    component_id,
    contact_unit,
    diagnoses,
    dispatch,
    journal_notes,
    po,
    stay_events,
)
from adapters.kith.view import (
    OutboundView,
    medication_change,
    medication_dosage,
    medication_name_atc,
    medication_reason,
)

TE = "http://www.kith.no/xmlstds/po/TverrfagligEpikrise/2012-04-01"
LEGEMIDDEL_TYPE = "2.16.578.1.12.4.1.6.13.10301.0"
# what changed during the stay, in words the nurse reads in Merknad (the component has no code for it)
CHANGE_TEXT = {"new": "Nytt legemiddel", "changed": "Endret", "stopped": "Seponert"}


def _use_9101(statement: dict) -> tuple[str, str]:
    """Fast (1), kur (2: a planned end) or ved behov (3: as needed), code list 9101."""
    if any(d.get("asNeededBoolean") for d in statement.get("dosage") or ()):
        return "3", "Ved behov"
    if (statement.get("effectivePeriod") or {}).get("end"):
        return "2", "Kur"
    return "1", "Fast"


def _e3(name: str) -> str:
    return f"{{{EPJ3}}}{name}"


def medication(parent: Element, view: OutboundView, statement: dict, n: int) -> None:
    info = el(
        parent,
        _e3("Legemiddelinfo"),
        **{
            f"{{{M1}}}informasjonskategori": "Legemidler",
            "komponentID": component_id(view, n),
            f"{{{M1}}}komponenttype": LEGEMIDDEL_TYPE,
            f"{{{M1}}}basiskomponenttype": "EPJ dokument",
        },
    )
    simple = el(info, _e3("ForenkletForskrivning"))
    change = medication_change(statement)
    if change == "stopped":
        el(simple, _e3("StatusTilForskrivningen"), V="2", DN="Seponering")
    note = CHANGE_TEXT.get(change)
    reason = medication_reason(statement)
    if note:
        el(simple, _e3("Merknad"), f"{note}: {reason}" if reason else note)
    rx = el(simple, _e3("Forskrivningsinfo"))
    dosage = medication_dosage(statement)
    if dosage and change != "stopped":
        el(rx, _e3("DosVeiledEnkel"), dosage)
    name, atc = medication_name_atc(statement)
    el(rx, _e3("Navn"), name)
    if atc:
        el(rx, _e3("Atc"), V=atc, DN=name)
    if change != "stopped":
        v, dn = _use_9101(statement)
        el(rx, _e3("Bruk"), V=v, DN=dn)


def render(view: OutboundView) -> etree._Element:
    def payload(content: Element) -> None:
        root = etree.SubElement(content, f"{{{TE}}}TverrfagligEpikrise", nsmap={"p8": TE, **PO_NSMAP})
        dispatch(root, view)
        contact_unit(root, view)
        el(
            el(root, po("TypeInnholdIMelding")),
            po("TypeInnhold"),
            V="11",
            DN="Utskrivningsrapport",
            S="2.16.578.1.12.4.1.1.9139",
        )
        stay_events(root, view)
        diagnoses(root, view)
        journal_notes(root, view)
        for n, statement in enumerate(view.medications(), start=1):
            medication(root, view, statement, n)

    return msghead(view, "Utskrivningsrapport", payload)
