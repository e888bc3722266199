"""A plain HTML page for one outbound message: what a nurse or GP reads, not what a machine parses.

Everything from the message is escaped; section texts arrive as XHTML from the sender and are
shown as their text only (parsed without entities or network), so no markup of theirs reaches
the reader's browser.
"""

from __future__ import annotations

from html import escape
from typing import Any

from lxml import etree

from adapters.fhir import codes
from adapters.fhir.references import index_bundle, resolve
from gateway.clock import OSLO, parse_fhir_datetime

Resource = dict[str, Any]
DISPATCH = {
    "N": "Ny melding",
    "M": "Endring (erstatter forrige)",
    "C": "Kansellering (trekker tilbake forrige)",
}
CHANGE = {
    "new": ("Ny", "new"),
    "changed": ("Endret", "changed"),
    "stopped": ("Seponert", "stopped"),
    "unchanged": ("Uendret", "unchanged"),
}
_TEXT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.5rem;margin-bottom:.2rem} .meta{color:#555;margin-top:0}
.banner{padding:.6rem 1rem;border-radius:.3rem;margin:1rem 0;font-weight:600}
.action-required{background:#fde2e1;border-left:.4rem solid #c0392b}
.information{background:#e8f1fb;border-left:.4rem solid #2f6fb3}
.cancel{background:#fff3cd;border-left:.4rem solid #b8860b}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #ddd;padding:.35rem;text-align:left}
tr.new td:first-child,tr.changed td:first-child,tr.stopped td:first-child{font-weight:700}
tr.new{background:#e9f7ef} tr.changed{background:#fff8e1} tr.stopped{background:#fdecea}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem} dt{color:#555}
"""


def _ext(resource: Resource, url: str) -> Any:
    for e in resource.get("extension") or ():
        if e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), None)
    return None


def _when(value: str | None) -> str:
    if not value:
        return "–"
    try:
        return parse_fhir_datetime(value).astimezone(OSLO).strftime("%d.%m.%Y %H:%M")
    except ValueError:
        return escape(value)


def _text_of(div: str) -> list[str]:
    try:
        root = etree.fromstring(div.encode(), _TEXT_PARSER)
    except etree.XMLSyntaxError:
        return ["(teksten kunne ikke vises)"]
    for br in root.iter("{http://www.w3.org/1999/xhtml}br"):
        br.tail = "\n" + (br.tail or "")
    return [line.strip() for line in "".join(root.itertext()).splitlines() if line.strip()]


def _name(resource: Resource | None) -> str:
    for n in (resource or {}).get("name") or ():
        if n.get("text"):
            return str(n["text"])
        return " ".join([*n.get("given", []), n.get("family", "")]).strip()
    return "–"


def _party(resource: Resource | None) -> str:
    if not resource:
        return "–"
    return str(resource.get("name")) if resource.get("resourceType") == "Organization" else _name(resource)


def _medications(bundle: Resource) -> str:
    rows = []
    for entry in bundle.get("entry") or ():
        med = entry.get("resource") or {}
        if med.get("resourceType") != "MedicationStatement":
            continue
        label, css = CHANGE.get(_ext(med, codes.EXT_MED_CHANGE) or "", ("–", ""))
        concept = med.get("medicationCodeableConcept") or {}
        atc = next((c.get("code") for c in concept.get("coding") or () if c.get("system") == codes.ATC), "")
        dose = "; ".join(d.get("text", "") for d in med.get("dosage") or ())
        reason = "; ".join(r.get("text", "") for r in med.get("statusReason") or ())
        rows.append(
            f'<tr class="{css}"><td>{escape(label)}</td><td>{escape(concept.get("text") or "")}</td>'
            f"<td>{escape(atc or '')}</td><td>{escape(dose)}</td><td>{escape(reason)}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h2>Legemidler</h2><table><tr><th>Endring</th><th>Legemiddel</th><th>ATC</th><th>Dosering</th>"
        "<th>Begrunnelse</th></tr>" + "".join(rows) + "</table>"
    )


def render_page(bundle: Resource) -> str:
    index = index_bundle(bundle)
    header = bundle["entry"][0]["resource"]
    kind = header["eventCoding"].get("code", "")
    title = header["eventCoding"].get("display") or codes.MESSAGE_TYPES.get(kind, kind)
    status = _ext(header, codes.EXT_DISPATCH_STATUS) or "N"
    receiver = resolve(index, (header.get("destination") or [{}])[0].get("receiver"))
    sender = resolve(index, header.get("sender"))
    patient = next((r for r in index.values() if r.get("resourceType") == "Patient"), None)
    encounter = next((r for r in index.values() if r.get("resourceType") == "Encounter"), None) or {}
    person = next(
        (
            i.get("value")
            for i in (patient or {}).get("identifier") or ()
            if i.get("system") in codes.PERSON_ID_SYSTEMS
        ),
        "–",
    )
    parts = [
        f'<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(DISPATCH.get(status, status))} · sendt {_when(bundle.get("timestamp"))} · '
        f"fra {escape(_party(sender))} "
        f"til {escape(_party(receiver))}</p>",
    ]
    gp_class = _ext(header, codes.EXT_GP_CLASS)
    if status == "C":
        parts.append('<div class="banner cancel">Denne meldingen trekker tilbake en tidligere melding.</div>')
    elif gp_class == "action-required":
        parts.append('<div class="banner action-required">Må leses og følges opp av fastlegen.</div>')
    elif gp_class == "information":
        parts.append('<div class="banner information">Til orientering.</div>')
    period = encounter.get("period") or {}
    ready = _ext(encounter, codes.EXT_READY)
    event_time = _ext(header, codes.EXT_EVENT_TIME)
    parts.append(
        "<h2>Pasient og opphold</h2><dl>"
        f"<dt>Pasient</dt><dd>{escape(_name(patient))}</dd>"
        f"<dt>Fødselsnummer</dt><dd>{escape(str(person))}</dd>"
        f"<dt>Født</dt><dd>{escape((patient or {}).get('birthDate', '–'))}</dd>"
        f"<dt>Innlagt</dt><dd>{_when(period.get('start'))}</dd>"
        + (f"<dt>Utskrivningsklar</dt><dd>{_when(ready)}</dd>" if ready else "")
        + (f"<dt>Utskrevet</dt><dd>{_when(period.get('end'))}</dd>" if period.get("end") else "")
        + (f"<dt>Hendelsen skjedde</dt><dd>{_when(event_time)}</dd>" if event_time else "")
        + "</dl>"
    )
    focus = resolve(index, (header.get("focus") or [{}])[0])
    if focus and focus.get("resourceType") == "Composition":
        for section in focus.get("section") or ():
            lines = _text_of((section.get("text") or {}).get("div", "<div/>"))
            parts.append(
                f"<h2>{escape(section.get('title') or '')}</h2>"
                + "".join(f"<p>{escape(line)}</p>" for line in lines)
            )
    parts.append(_medications(bundle))
    parts.append("</body></html>")
    return "".join(parts)
