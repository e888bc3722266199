"""Dialogmelding 1.1 notat (DIALOG_NOTAT) inside MsgHead: the GP's admission and discharge notices.

The text is written here from the Bundle's facts (event, local time, the ward) rather than copied
from the FHIR narrative, so the GP reads Norwegian local time, not UTC."""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from adapters.fhir import codes
from adapters.kith.envelope import Element, el, msghead
from adapters.kith.view import OutboundView, ext_value, local_time

DIA = "http://www.kith.no/xmlstds/dialog/2013-01-23"
TOPIC = {"1": "Pasienten er innlagt", "2": "Pasienten er utskrevet"}
VERB = {"1": "innlagt ved", "2": "utskrevet fra"}


def _when(value: str | None) -> str:
    local = local_time(value)
    if not local:
        return "ukjent tidspunkt"
    if len(local) == 10:
        return datetime.fromisoformat(local).strftime("%d.%m.%Y")
    return datetime.fromisoformat(local).strftime("%d.%m.%Y kl. %H:%M")


def note_text(view: OutboundView) -> str:
    where = (view.department or view.sender).get("name") or "sykehuset"
    code = view.event_code or ""
    text = f"Pasienten ble {VERB.get(code, 'registrert ved')} {where} {_when(view.event_time)}."
    if ext_value(view.header, codes.EXT_GP_CLASS) == "action-required":
        text += " Legemidler er endret: se legemiddellisten og epikrisen."
    return text


def render(view: OutboundView) -> etree._Element:
    def payload(content: Element) -> None:
        root = etree.SubElement(content, f"{{{DIA}}}Dialogmelding", nsmap={None: DIA})
        note = el(root, f"{{{DIA}}}Notat")
        el(note, f"{{{DIA}}}TemaKodet", V="6", DN="Henvendelse om pasient", S="2.16.578.1.12.4.1.1.7322")
        el(note, f"{{{DIA}}}Tema", TOPIC.get(view.event_code or "", "Melding om pasient"))
        el(note, f"{{{DIA}}}TekstNotatInnhold", note_text(view))
        el(note, f"{{{DIA}}}DokIdNotat", view.conversation_id)

    return msghead(view, "Notat", payload)
