"""Pasientlogistikk v1.6 (HIS 1149): LOG_INNLAGT, LOG_UTSKRIVNINGSKLAR, LOG_AVMELDING,
LOG_UTSKREVET and LOG_DOD inside MsgHead."""

from __future__ import annotations

from lxml import etree

from adapters.kith.envelope import Element, el, msghead
from adapters.kith.po import PO_NSMAP, contact_physician, contact_unit, dispatch, event, po
from adapters.kith.view import BundleShapeError, OutboundView

PLO = "http://www.kith.no/xmlstds/po/Pasientlogistikk/2012-04-01"
TYPES = {
    "LOG_INNLAGT": ("MeldingInnlagtPasient", "Melding om innlagt pasient"),
    "LOG_UTSKRIVNINGSKLAR": ("MeldingUtskrivningsklarPasient", "Melding om utskrivningsklar pasient"),
    "LOG_AVMELDING": ("AvmeldingUtskrivningsklarPasient", "Avmelding av utskrivningsklar pasient"),
    "LOG_UTSKREVET": ("MeldingOmUtskrevetPasient", "Melding om utskrevet pasient"),
    "LOG_DOD": ("OrienteringOmDod", "Orientering om dødsfall"),
}
# where the patient went (code list 8408), from FHIR discharge-disposition and HL7 v2 table 0112 codes
DESTINATION_8408 = {
    "home": ("1", "Bosted/arbeidssted"),
    "alt-home": ("1", "Bosted/arbeidssted"),
    "01": ("1", "Bosted/arbeidssted"),
    "hosp": ("3", "Annen helseinstitusjon innen spesialisthelsetjenesten"),
    "other-hcf": ("3", "Annen helseinstitusjon innen spesialisthelsetjenesten"),
    "rehab": ("3", "Annen helseinstitusjon innen spesialisthelsetjenesten"),
    "psy": ("3", "Annen helseinstitusjon innen spesialisthelsetjenesten"),
    "02": ("3", "Annen helseinstitusjon innen spesialisthelsetjenesten"),
    "snf": ("11", "Sykehjem/aldershjem/helsehus"),
    "long": ("11", "Sykehjem/aldershjem/helsehus"),
    "03": ("11", "Sykehjem/aldershjem/helsehus"),
    "oth": ("88", "Annet"),
}
UNKNOWN_8408 = ("98", "Ukjent")


def _body(kind: str, view: OutboundView, body: Element) -> None:
    at = view.event_time
    if kind == "LOG_INNLAGT":
        event(body, "1", at or view.admitted_at)
    elif kind in ("LOG_UTSKRIVNINGSKLAR", "LOG_AVMELDING"):
        # with the admission time, as HIS 1149 asks and the official examples show
        if view.admitted_at:
            event(body, "1", view.admitted_at)
        if kind == "LOG_UTSKRIVNINGSKLAR":
            event(body, "3", at or view.ready_at)
        else:
            if view.ready_at:
                event(body, "3", view.ready_at)
            event(body, "4", at)
    elif kind == "LOG_UTSKREVET":
        to = el(body, po("UtskrevetTil"))
        el(to, po("Uttilstand"), V="1", DN="Som levende", S="2.16.578.1.12.4.1.1.8431")
        v, dn = DESTINATION_8408.get(str(view.discharge_disposition or "").lower(), UNKNOWN_8408)
        el(to, po("UtTil"), V=v, DN=dn, S="2.16.578.1.12.4.1.1.8408")
        event(body, "2", at or view.discharged_at)
    else:
        event(body, "13", at)


def render(view: OutboundView) -> etree._Element:
    kind = view.message_type
    if kind not in TYPES:
        raise BundleShapeError(f"{kind} is not a Pasientlogistikk message")
    element, dn = TYPES[kind]

    def payload(content: Element) -> None:
        root = etree.SubElement(content, f"{{{PLO}}}Pasientlogistikk", nsmap={"p1": PLO, **PO_NSMAP})
        dispatch(root, view)
        contact_unit(root, view)
        if kind == "LOG_UTSKRIVNINGSKLAR":
            hpr, who = view.ready_decided_by
            contact_physician(root, hpr, who, ("3", "Behandlingsansvarlig lege"))
        _body(kind, view, el(root, f"{{{PLO}}}{element}"))

    return msghead(view, dn, payload)
