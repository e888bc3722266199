"""The MsgHead v1.2 envelope we write (HIS 80601) and the small building blocks every payload shares.

Service-based addressing: the institution or municipality is the level-1 `Organisation` (HER-id),
the service or department a level-2 `Organisation` inside it; a GP is a `HealthcareProfessional`
inside the practice's `Organisation`.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from adapters.fhir import codes
from adapters.kith.view import OutboundView, human_name, identifier, local_time

MH = "http://www.kith.no/xmlstds/msghead/2006-05-24"
FK1 = "http://www.kith.no/xmlstds/felleskomponent1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XHTML = "http://www.w3.org/1999/xhtml"

OID_9051 = "2.16.578.1.12.4.1.1.9051"
OID_8116 = "2.16.578.1.12.4.1.1.8116"
OID_9121 = "2.16.578.1.12.4.1.1.9121"
ID_TYPES_8116 = {"FNR": "Fødselsnummer", "DNR": "D-nummer", "HNR": "H-nummer", "HPR": "HPR-nummer"}
SEX_3101 = {"male": ("1", "Mann"), "female": ("2", "Kvinne"), "other": ("9", "Ikke spesifisert")}
DISPATCH_7309 = {"N": "Ny", "M": "Endring", "C": "Kansellering"}

Element = etree._Element


def el(parent: Element, tag: str, text: str | None = None, **attrib: str | None) -> Element:
    """One child element; attributes whose value is None are left out."""
    child = etree.SubElement(parent, tag, {k: v for k, v in attrib.items() if v is not None})
    if text is not None:
        child.text = text
    return child


def _mh(name: str) -> str:
    return f"{{{MH}}}{name}"


def _ident(parent: Element, value: str, type_v: str, type_dn: str, oid: str) -> None:
    ident = el(parent, _mh("Ident"))
    el(ident, _mh("Id"), value)
    el(ident, _mh("TypeId"), V=type_v, DN=type_dn, S=oid)


def _organisation(parent: Element, org: dict | None) -> Element:
    node = el(parent, _mh("Organisation"))
    el(node, _mh("OrganisationName"), str((org or {}).get("name") or "Ukjent"))
    her = identifier(org, codes.HER)
    _ident(node, her[1] if her else "", "HER", "HER-id", OID_9051)
    return node


def _gp(parent: Element, practitioner: dict) -> None:
    node = el(parent, _mh("HealthcareProfessional"))
    family, given = human_name(practitioner)
    if family is None and given is None:
        family = str(((practitioner.get("name") or [{}])[0]).get("text") or "") or None
    if family:
        el(node, _mh("FamilyName"), family)
    if given:
        el(node, _mh("GivenName"), given)
    her = identifier(practitioner, codes.HER)
    if her:
        _ident(node, her[1], "HER", "HER-id", OID_9051)
    hpr = identifier(practitioner, codes.HPR)
    if hpr:
        _ident(node, hpr[1], "HPR", "HPR-nummer", OID_8116)
    if not (her or hpr):
        _ident(node, "", "HER", "HER-id", OID_9051)


def add_sender(msg_info: Element, view: OutboundView) -> None:
    org = _organisation(el(msg_info, _mh("Sender")), view.sender)
    if view.department is not None:
        _organisation(org, view.department)


def add_receiver(msg_info: Element, view: OutboundView) -> None:
    receiver = el(msg_info, _mh("Receiver"))
    parent = view.receiver_parent
    if view.receiver_is_gp:
        _gp(_organisation(receiver, parent), view.receiver)
    elif parent is not None:
        _organisation(_organisation(receiver, parent), view.receiver)
    else:
        _organisation(receiver, view.receiver)


def add_patient(msg_info: Element, view: OutboundView) -> None:
    patient = view.patient
    node = el(msg_info, _mh("Patient"))
    family, given = human_name(patient)
    if family:
        el(node, _mh("FamilyName"), family)
    if given:
        el(node, _mh("GivenName"), given)
    if patient.get("birthDate"):
        el(node, _mh("DateOfBirth"), str(patient["birthDate"])[:10])
    if patient.get("gender") in SEX_3101:
        v, dn = SEX_3101[patient["gender"]]
        el(node, _mh("Sex"), V=v, DN=dn)
    person = view.person_id()
    if person:
        _ident(node, person[1], person[0], ID_TYPES_8116[person[0]], OID_8116)


def msghead(view: OutboundView, type_dn: str, payload: Callable[[Element], None]) -> Element:
    """MsgHead around one XML payload; `payload` writes itself into `Content`."""
    root = etree.Element(_mh("MsgHead"), nsmap={None: MH, "xsi": XSI})
    info = el(root, _mh("MsgInfo"))
    el(info, _mh("Type"), V=view.message_type, DN=type_dn)
    el(info, _mh("MIGversion"), "v1.2 2006-05-24")
    el(info, _mh("GenDate"), local_time(view.timestamp))
    el(info, _mh("MsgId"), view.message_id)
    if view.dispatch_status in ("M", "C") or view.parent_id:
        ref = el(info, _mh("ConversationRef"))
        el(ref, _mh("RefToParent"), view.parent_id or view.conversation_id)
        el(ref, _mh("RefToConversation"), view.conversation_id)
    add_sender(info, view)
    add_receiver(info, view)
    add_patient(info, view)
    refdoc = el(el(root, _mh("Document")), _mh("RefDoc"))
    el(refdoc, _mh("IssueDate"), V=local_time(view.timestamp))
    el(refdoc, _mh("MsgType"), V="XML", DN="XML-instans")
    payload(el(refdoc, _mh("Content")))
    return root
