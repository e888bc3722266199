"""Components shared by the PLO v1.6 payloads (poKomponent v1.6, HIS 80704)."""

from __future__ import annotations

import uuid

from adapters.fhir import codes
from adapters.kith.envelope import DISPATCH_7309, FK1, OID_8116, OID_9051, OID_9121, Element, el
from adapters.kith.view import OutboundView, human_name, identifier, local_time

PO = "http://www.kith.no/xmlstds/po/poKomponent/2012-04-01"
EPJ1 = "http://www.kith.no/xmlstds/epj/epj1/2008-02-20"
EPJ2 = "http://www.kith.no/xmlstds/epj/epj2/2008-02-20"
EPJ3 = "http://www.kith.no/xmlstds/epj/epj3/2008-02-20"
M1 = "http://www.kith.no/xmlstds/epj/meta/2008-02-20"
PO_NSMAP = {None: PO, "fk1": FK1, "epj1": EPJ1, "epj2": EPJ2, "epj3": EPJ3, "m1": M1}

EVENTS_9121 = {
    "1": "Pasient innlagt",
    "2": "Pasient utskrevet",
    "3": "Pasient utskrivningsklar",
    "4": "Avmelding av utskrivningsklar pasient",
    "13": "Pasienten er død",
}
OID_9142 = "2.16.578.1.12.4.1.1.9142"
# The gateway's section codes (docs/FHIR-PROFILE.md) → the journal-text headings of code list 9142.
HEADINGS_9142 = {
    "AA": ("AAI", "Årsak til innleggelse"),
    "AI": ("AAI", "Årsak til innleggelse"),
    "FB": ("FO", "Forløp og behandling"),
    "FO": ("FO", "Forløp og behandling"),
    "VU": ("VU", "Vurdering"),
    "OP": ("OP", "Planer for videre oppfølging"),
    "IP": ("IP", "Informasjon til pasient/pårørende"),
    "FH": ("HJ", "Funksjonsnivå/hjelpetiltak"),
    "HJ": ("HJ", "Funksjonsnivå/hjelpetiltak"),
    "PROB": ("PROB", "Aktuell problemstilling"),
    "FU": ("FU", "Funn og undersøkelsesresultat"),
}
ICD10_OID, ICPC2_OID = codes.ICD10.removeprefix(codes.OID), codes.ICPC2.removeprefix(codes.OID)
JOURNALNOTAT_TYPE = "2.16.578.1.12.4.1.6.13.11009.0"


def po(name: str) -> str:
    return f"{{{PO}}}{name}"


def fk(name: str) -> str:
    return f"{{{FK1}}}{name}"


def component_id(view: OutboundView, n: int) -> str:
    """A stable EPJ component id: the same message renders to the same ids."""
    return str(uuid.uuid5(uuid.UUID(view.message_id), str(n)))


def dispatch(parent: Element, view: OutboundView) -> None:
    status = view.dispatch_status
    el(
        el(parent, po("InformasjonOmForsendelsen")),
        po("Forsendelsesstatus"),
        V=status,
        DN=DISPATCH_7309[status],
    )


def _fk_ident(parent: Element, value: str, type_v: str, type_dn: str, oid: str) -> None:
    ident = el(parent, fk("Ident"))
    el(ident, fk("Id"), value)
    el(ident, fk("TypeId"), V=type_v, DN=type_dn, S=oid)


def contact_unit(parent: Element, view: OutboundView) -> None:
    """TilknyttetEnhet: the department (else the hospital) the municipality can call."""
    org = view.department or view.sender
    unit = el(el(parent, po("TilknyttetEnhet")), po("Kontaktenhet"))
    el(unit, fk("OrganisationName"), str(org.get("name") or "Ukjent"))
    her = identifier(org, codes.HER)
    if her:
        _fk_ident(unit, her[1], "HER", "HER-id", OID_9051)


def contact_physician(
    parent: Element, hpr: str | None, practitioner: dict | None, role: tuple[str, str]
) -> None:
    """KontaktpersonHelsepersonell: a physician by HPR-nummer with the role to the patient (9034)."""
    if not hpr and practitioner is None:
        return
    person = el(el(parent, po("KontaktpersonHelsepersonell")), po("Kontaktperson"))
    el(person, fk("TypeHealthcareProfessional"), V="LE", DN="Lege")
    el(person, fk("RoleToPatient"), V=role[0], DN=role[1], S="2.16.578.1.12.4.1.1.9034")
    family, given = human_name(practitioner)
    if family:
        el(person, fk("FamilyName"), family)
    if given:
        el(person, fk("GivenName"), given)
    if hpr:
        _fk_ident(person, hpr, "HPR", "HPR-nummer", OID_8116)


def event(parent: Element, code: str | None, at: str | None, text: str | None = None) -> Element:
    """TidsfestetHendelse. Anslag is false: every time the gateway sends is a recorded time, not
    an estimate (the official examples write false for recorded times; docs/KITH.md)."""
    node = el(parent, po("TidsfestetHendelse"))
    if code:
        el(node, po("Hendelsekode"), V=code, DN=EVENTS_9121.get(code, ""), S=OID_9121)
    if text:
        el(node, po("BeskrivelseAvHendelse"), text)
    el(node, po("TidspunktForHendelse"), V=local_time(at))
    el(node, po("Anslag"), "false")
    return node


def stay_events(parent: Element, view: OutboundView) -> None:
    """OpplysningOpphold: admission, ready and discharge times the Bundle knows (at least the
    message's own event, as Helseopplysninger requires one)."""
    known = [
        (c, t) for c, t in (("1", view.admitted_at), ("3", view.ready_at), ("2", view.discharged_at)) if t
    ]
    for code, at in known or [(view.event_code, view.event_time or view.timestamp)]:
        event(el(parent, po("OpplysningOpphold")), code, at)


def diagnoses(parent: Element, view: OutboundView) -> None:
    found = view.diagnoses()
    if not found:
        return
    info = el(parent, po("InfoMedisinskDiagnose"))
    for diagnosis in found:
        node = el(info, po("MedisinskDiagnose"))
        el(node, po("Hoveddiagnose"), "true" if diagnosis.main else "false")
        el(node, po("Diagnosekode"), V=diagnosis.code, DN=diagnosis.display, S=diagnosis.system_oid)


def journal_notes(parent: Element, view: OutboundView, n0: int = 0) -> None:
    """MedisinskfagligeOpplysninger: the document's sections as EPJ journal texts (code list 9142)."""
    sections = [
        (HEADINGS_9142.get(code), title, text) for code, title, text in view.sections() if code != "ME"
    ]
    if not sections:
        return
    info = el(parent, po("MedisinskfagligeOpplysninger"))
    note = el(
        info,
        f"{{{EPJ2}}}GenereltJournalnotat",
        **{
            f"{{{M1}}}informasjonskategori": "Andre notater",
            "komponentID": component_id(view, n0),
            f"{{{M1}}}komponenttype": JOURNALNOTAT_TYPE,
            f"{{{M1}}}basiskomponenttype": "EPJ dokument",
        },
    )
    for heading, title, text in sections:
        entry = el(note, f"{{{EPJ2}}}Journaltekst")
        if heading:
            el(entry, f"{{{EPJ2}}}Overskriftskode", V=heading[0], DN=heading[1], S=OID_9142)
        el(entry, f"{{{EPJ2}}}Notat", text if heading else f"{title}: {text}" if title else text)
