"""The standalone Epikrise v1.2 (root `Message`, HIS 80226) for the GP: diagnoses, medications with
what changed and why, text sections by heading (code list 8311) including OP (follow-up plan)."""

from __future__ import annotations

from lxml import etree

from adapters.fhir import codes
from adapters.kith.envelope import DISPATCH_7309, XHTML, Element, el
from adapters.kith.view import (
    OutboundView,
    human_name,
    identifier,
    local_time,
    medication_change,
    medication_dosage,
    medication_name_atc,
    medication_reason,
)

EPI = "http://www.kith.no/xmlstds/epikrise/2012-02-15"
# The gateway's section codes → code list 8311 (AA, FB and FH are the gateway's older spellings).
HEADINGS_8311 = {
    "AA": ("AI", "Årsak til innleggelse"),
    "AI": ("AI", "Årsak til innleggelse"),
    "FB": ("FO", "Forløp og behandling"),
    "FO": ("FO", "Forløp og behandling"),
    "FU": ("FU", "Funn og undersøkelser"),
    "VU": ("VU", "Vurdering"),
    "OP": ("OP", "Planer for videre oppfølging"),
    "IP": ("IP", "Informasjon til pasient/pårørende"),
    "FH": ("HJ", "Funksjonsnivå/hjelpetiltak"),
    "HJ": ("HJ", "Funksjonsnivå/hjelpetiltak"),
    "ME": ("ME", "Medisinering"),
    "PROB": ("PROB", "Aktuell problemstilling"),
    "SY": ("SY", "Sykmelding"),
    "TS": ("TS", "Tidligere sykdommer"),
}
# Status for medisinering (7307) per change; the change itself and its reason go in Comment.
STATUS_7307 = {
    "new": ("3", "Anbefalt å innta"),
    "changed": ("3", "Anbefalt å innta"),
    "unchanged": ("3", "Anbefalt å innta"),
    "stopped": ("4", "Anbefalt å slutte å innta"),
}
CHANGE_TEXT = {"new": "Nytt legemiddel", "changed": "Endret dosering", "stopped": "Seponert"}
ATC_OID = codes.ATC.removeprefix(codes.OID)


def e(name: str) -> str:
    return f"{{{EPI}}}{name}"


def _inst(parent: Element, org: dict | None, dept: dict | None = None) -> Element:
    inst = el(el(parent, e("HCP")), e("Inst"))
    el(inst, e("Name"), str((org or {}).get("name") or "Ukjent"))
    her = identifier(org, codes.HER)
    if her:
        el(inst, e("Id"), her[1])
        el(inst, e("TypeId"), V="HER", DN="HER-id")
    if dept is not None:
        node = el(inst, e("Dept"))
        el(node, e("Name"), str(dept.get("name") or ""))
        dept_her = identifier(dept, codes.HER)
        if dept_her:
            el(node, e("Id"), dept_her[1])
            el(node, e("TypeId"), V="HER", DN="HER-id")
    return inst


def _gp_person(inst: Element, practitioner: dict) -> None:
    person = el(inst, e("HCPerson"))
    family, given = human_name(practitioner)
    el(person, e("Name"), " ".join(x for x in (given, family) if x) or "Fastlege")
    her = identifier(practitioner, codes.HER)
    if her:
        el(person, e("Id"), her[1])
        el(person, e("TypeId"), V="HER", DN="HER-id")


def _xhtml(parent: Element, tag: str, text: str) -> None:
    div = etree.SubElement(el(parent, e(tag)), f"{{{XHTML}}}div", nsmap={None: XHTML})
    el(div, f"{{{XHTML}}}p", text)


def _diagnoses(event: Element, view: OutboundView) -> None:
    for diagnosis in view.diagnoses():
        item = el(event, e("InfItem"))
        concept = el(el(item, e("Observation")), e("CodedDescr"))
        el(concept, e("Concept"), V=diagnosis.code, DN=diagnosis.display, S=diagnosis.system_oid)
        el(
            item,
            e("Type"),
            **({"V": "H", "DN": "Hoveddiagnose"} if diagnosis.main else {"V": "B", "DN": "Bidiagnose"}),
        )


def _medications(event: Element, view: OutboundView) -> None:
    for statement in view.medications():
        change = medication_change(statement)
        item = el(event, e("InfItem"))
        med = el(item, e("Medication"))
        name, atc = medication_name_atc(statement)
        el(med, e("DrugId"), V=atc or "", DN=name, S=ATC_OID if atc else None)
        note, reason = CHANGE_TEXT.get(change), medication_reason(statement)
        if note:
            el(med, e("Comment"), f"{note}: {reason}" if reason else note)
        v, dn = STATUS_7307[change if change in STATUS_7307 else "unchanged"]
        el(med, e("Status"), V=v, DN=dn)
        dosage = medication_dosage(statement)
        if dosage:
            el(med, e("DosageText"), dosage)
        el(item, e("Type"), V="MEDB", DN="Legemiddelopplysning")


def render(view: OutboundView) -> etree._Element:
    root = etree.Element(e("Message"), nsmap={None: EPI})
    el(root, e("Type"), V="EPIKRISE", DN="Epikrise")
    el(root, e("MIGversion"), "v1.2 2012-02-15")
    el(root, e("GenDate"), V=local_time(view.timestamp))
    el(root, e("MsgId"), view.message_id)
    report = el(root, e("ServRprt"))
    status = view.dispatch_status
    el(report, e("ServType"), V=status, DN=DISPATCH_7309[status])
    composition = view.composition or {}
    el(report, e("IssueDate"), V=local_time(composition.get("date") or view.timestamp))
    el(report, e("Status"), V="F", DN="Endelig rapport")
    el(report, e("MsgDescr"), str(composition.get("title") or "Epikrise"))
    el(report, e("ServProvId"), view.document_id)  # the same across N, M and C (HIS 80226)

    if view.admitted_at:
        event = el(report, e("Event"))
        reported = el(event, e("ReportedEvent"))
        el(reported, e("StartDateTime"), V=local_time(view.admitted_at))
        if view.discharged_at:
            el(reported, e("EndDateTime"), V=local_time(view.discharged_at))
        el(event, e("ServType"), V=status, DN=DISPATCH_7309[status])
        el(el(event, e("Service")), e("AdmCat"), V="1", DN="Heldøgnsopphold")
        _diagnoses(event, view)
        _medications(event, view)
        for code, title, text in view.sections():
            comment = el(event, e("Comment"))
            heading = HEADINGS_8311.get(code)
            if heading:
                el(comment, e("Heading"), V=heading[0], DN=heading[1])
            _xhtml(comment, "TextResultValue", text if heading or not title else f"{title}: {text}")

    patient = el(report, e("Patient"))
    pat = view.patient
    if pat.get("gender") in ("male", "female"):
        el(
            patient,
            e("Sex"),
            **({"V": "1", "DN": "Mann"} if pat["gender"] == "male" else {"V": "2", "DN": "Kvinne"}),
        )
    if pat.get("birthDate"):
        el(patient, e("DateOfBirth"), V=str(pat["birthDate"])[:10])
    family, given = human_name(pat)
    if family or given:
        el(patient, e("Name"), ", ".join(x for x in (family, given) if x))
    person = view.person_id()
    if person:
        el(patient, e("OffId"), person[1])
        el(
            patient,
            e("TypeOffId"),
            V=person[0],
            DN={"FNR": "Fødselsnummer", "DNR": "D-nummer"}.get(person[0], "H-nummer"),
        )

    provider = el(report, e("ServProvider"))
    el(provider, e("Role"), V="SPR", DN="Tjenesteyter")
    el(provider, e("ComMethod"), V="EDI", DN="EDI")
    _inst(provider, view.sender, view.department)
    for dest in (view.header.get("destination") or [])[1:]:  # copies, when the Bundle names any
        copy = view.ref(dest.get("receiver"))
        if copy is not None:
            _inst(el(report, e("CopyDest")), copy)

    requester = el(report, e("Requester"))
    el(requester, e("Role"), V="REQ", DN="Rekvirent")
    el(requester, e("ComMethod"), V="EDI", DN="EDI")
    if view.receiver_is_gp:
        _gp_person(_inst(requester, view.receiver_parent), view.receiver)
    else:
        _inst(requester, view.receiver)
    return root
