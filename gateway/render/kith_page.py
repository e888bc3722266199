"""A plain HTML page for one KITH XML message (MsgHead with a PLO or Dialogmelding payload, or the
standalone Epikrise): what a nurse or GP reads. Works from the XML alone, by element local names, so
it shows the gateway's own renderings and other senders' messages (PLO 1.5 and 1.6) alike.

The XML is parsed with no DTD, no entities and no network; every value is escaped.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from lxml import etree

from gateway.render.html_view import DISPATCH, STYLE

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class NotKith(ValueError):
    """Not a KITH message this page knows (not well-formed, or another root)."""


def _x(node: etree._Element, path: str) -> list[etree._Element]:
    return node.xpath(path)  # type: ignore[return-value]


def _s(node: etree._Element, path: str) -> str:
    return " ".join(str(node.xpath(f"string({path})")).split())


def _local(name: str) -> str:
    """An XPath step matching an element by local name in any namespace."""
    return f"*[local-name()='{name}']"


def _d(*names: str) -> str:
    return "//" + "/".join(_local(n) for n in names)


def _when(value: str) -> str:
    if not value:
        return "–"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed.strftime("%d.%m.%Y" if len(value) == 10 else "%d.%m.%Y %H:%M")


def _change(note: str, status: str) -> str:
    """The row's highlight: stopped (by the coded status or the note), new or changed (by the note,
    as the gateway writes it: "Nytt legemiddel: …", "Endret …: …", "Seponert: …")."""
    note_l = note.lower()
    if "seponer" in status.lower() or "slutte" in status.lower() or note_l.startswith("seponert"):
        return "stopped"
    if note_l.startswith("nytt"):
        return "new"
    if note_l.startswith("endret"):
        return "changed"
    return ""


def _rows(headers: list[str], rows: list[tuple[str, list[str]]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{css}">' + "".join(f"<td>{escape(c or '–')}</td>" for c in cells) + "</tr>"
        for css, cells in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _names(node: etree._Element, container: str) -> str:
    parts = [
        _s(o, "./" + _local("OrganisationName"))
        for o in _x(node, _d(container) + "//" + _local("Organisation"))
    ]
    for hp in _x(node, _d(container) + "//" + _local("HealthcareProfessional")):
        parts.append(" ".join(x for x in (_s(hp, _local("GivenName")), _s(hp, _local("FamilyName"))) if x))
    return " / ".join(p for p in parts if p) or "–"


def _epikrise_party(root: etree._Element, role: str) -> str:
    inst = _x(root, _d(role, "HCP", "Inst"))
    if not inst:
        return "–"
    names = [_s(inst[0], _local("Name"))]
    names += [_s(d, _local("Name")) for d in _x(inst[0], _local("Dept") + "|" + _local("HCPerson"))]
    return " / ".join(n for n in names if n)


def kith_page(document: bytes) -> str:
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise NotKith(f"not well-formed XML: {exc.msg}") from None
    kind = etree.QName(root).localname
    if kind not in ("MsgHead", "Message"):
        raise NotKith(f"root element {kind} is not MsgHead or Message")
    epikrise = kind == "Message"
    title = _s(root, f"./{_local('Type')}/@DN") if epikrise else _s(root, _d("MsgInfo", "Type") + "/@DN")
    status = (
        _s(root, _d("ServRprt", "ServType") + "/@V")
        if epikrise
        else _s(root, _d("Forsendelsesstatus") + "/@V")
    )
    sent = _s(root, f"./{_local('GenDate')}/@V") if epikrise else _s(root, _d("MsgInfo", "GenDate"))
    sender = _epikrise_party(root, "ServProvider") if epikrise else _names(root, "Sender")
    receiver = _epikrise_party(root, "Requester") if epikrise else _names(root, "Receiver")
    parts = [
        f'<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(title or 'Melding')}</h1>",
        f'<p class="meta">{escape(DISPATCH.get(status, status or "Melding"))} · '
        f"sendt {escape(_when(sent))} · fra {escape(sender)} til {escape(receiver)}</p>",
    ]
    if status == "C":
        parts.append('<div class="banner cancel">Denne meldingen trekker tilbake en tidligere melding.</div>')

    # patient and stay
    if epikrise:
        patient = (
            _s(root, _d("Patient", "Name")),
            _s(root, _d("Patient", "OffId")),
            _s(root, _d("Patient", "DateOfBirth") + "/@V"),
        )
    else:
        p = _d("MsgInfo", "Patient")
        name = " ".join(
            x
            for x in (_s(root, p + "/" + _local("GivenName")), _s(root, p + "/" + _local("FamilyName")))
            if x
        )
        patient = (
            name,
            _s(root, p + "/" + _local("Ident") + "/" + _local("Id")),
            _s(root, p + "/" + _local("DateOfBirth")),
        )
    facts = [("Pasient", patient[0]), ("Fødselsnummer", patient[1]), ("Født", patient[2])]
    for event in _x(root, _d("TidsfestetHendelse")):
        label = (
            _s(event, _local("Hendelsekode") + "/@DN")
            or _s(event, _local("BeskrivelseAvHendelse"))
            or "Hendelse"
        )
        when = _when(_s(event, _local("TidspunktForHendelse") + "/@V"))
        estimate = " (anslag)" if _s(event, _local("Anslag")) == "true" else ""
        facts.append((label, when + estimate))
    if epikrise:
        facts += [
            ("Innlagt", _when(_s(root, _d("ReportedEvent", "StartDateTime") + "/@V"))),
            ("Utskrevet", _when(_s(root, _d("ReportedEvent", "EndDateTime") + "/@V"))),
        ]
    if ut_til := _s(root, _d("UtskrevetTil", "UtTil") + "/@DN"):
        facts.append(("Utskrevet til", ut_til))
    parts.append(
        "<h2>Pasient og opphold</h2><dl>"
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v or '–')}</dd>" for k, v in facts)
        + "</dl>"
    )

    # diagnoses
    diagnoses = [
        (
            "",
            [
                "Hoveddiagnose" if _s(d, _local("Hoveddiagnose")) == "true" else "Bidiagnose",
                _s(d, _local("Diagnosekode") + "/@V"),
                _s(d, _local("Diagnosekode") + "/@DN"),
            ],
        )
        for d in _x(root, _d("MedisinskDiagnose"))
    ] + [
        (
            "",
            [
                _s(i, _local("Type") + "/@DN"),
                _s(i, ".//" + _local("Concept") + "/@V"),
                _s(i, ".//" + _local("Concept") + "/@DN"),
            ],
        )
        for i in _x(root, _d("InfItem") + f"[{_local('Type')}/@V='H' or {_local('Type')}/@V='B']")
    ]
    if diagnoses:
        parts.append("<h2>Diagnoser</h2>" + _rows(["Type", "Kode", "Diagnose"], diagnoses))

    # medications, changes highlighted
    meds = []
    for m in _x(root, _d("ForenkletForskrivning")):
        status_dn, note = _s(m, _local("StatusTilForskrivningen") + "/@DN"), _s(m, _local("Merknad"))
        meds.append(
            (
                _change(note, status_dn),
                [_s(m, ".//" + _local("Navn")), _s(m, ".//" + _local("DosVeiledEnkel")), status_dn, note],
            )
        )
    for m in _x(root, _d("InfItem", "Medication")):
        status_dn, note = _s(m, _local("Status") + "/@DN"), _s(m, _local("Comment"))
        meds.append(
            (
                _change(note, status_dn),
                [_s(m, _local("DrugId") + "/@DN"), _s(m, _local("DosageText")), status_dn, note],
            )
        )
    if meds:
        parts.append(
            "<h2>Legemidler</h2>"
            + _rows(["Legemiddel", "Dosering", "Status", "Endring og begrunnelse"], meds)
        )

    # text sections: journal texts, epikrise comments, the notat
    sections = (
        [
            (_s(t, _local("Overskriftskode") + "/@DN"), _s(t, _local("Notat")))
            for t in _x(root, _d("Journaltekst"))
        ]
        + [
            (_s(c, _local("Heading") + "/@DN"), _s(c, _local("TextResultValue")))
            for c in _x(root, _d("Event", "Comment"))
        ]
        + [
            (_s(n, _local("Tema")), _s(n, _local("TekstNotatInnhold")))
            for n in _x(root, _d("Dialogmelding", "Notat"))
        ]
    )
    for heading, text in sections:
        if text:
            parts.append(f"<h2>{escape(heading or 'Merknad')}</h2><p>{escape(text)}</p>")
    parts.append("</body></html>")
    return "".join(parts)
