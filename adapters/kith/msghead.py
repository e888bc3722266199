"""The parts of a MsgHead v1.2 the gateway reads: type, ids, conversation links, parties, patient.

Read by local element names, so the same reader also finds the sender of a document that is
broken or carries a namespace we do not support (to address the negative AppRec to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lxml import etree

MSGHEAD_NS = "http://www.kith.no/xmlstds/msghead/2006-05-24"
OSLO = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True, slots=True)
class Party:
    """A sender or receiver with service-based addressing: the institution, then the service."""

    name: str | None
    id: str | None
    id_type: str | None
    service_name: str | None = None
    service_id: str | None = None
    service_id_type: str | None = None
    person_name: str | None = None  # a health professional addressed by HER-id (e.g. a GP)
    person_id: str | None = None
    person_id_type: str | None = None

    @property
    def her(self) -> str | None:
        """The most specific HER-id: the service's, else the institution's."""
        if self.service_id and self.service_id_type == "HER":
            return self.service_id
        return self.id if self.id_type == "HER" else None


@dataclass(frozen=True, slots=True)
class Header:
    msg_type: str | None
    msg_type_dn: str | None
    gen_date: str | None  # as sent
    msg_id: str | None
    ref_to_parent: str | None
    ref_to_conversation: str | None
    sender: Party | None
    receiver: Party | None
    patient_id: str | None = None
    patient_id_type: str | None = None


def local(el: etree._Element) -> str:
    """The element's name without its namespace ("" for comments and PIs); string work, because
    building a QName per element was most of the reading time."""
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def child(el: etree._Element | None, *path: str) -> etree._Element | None:
    """The first element down a path of local names, in any namespace."""
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if local(c) == name), None)
    return el


def text(el: etree._Element | None, *path: str) -> str | None:
    found = child(el, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def attr(el: etree._Element | None, *path: str, name: str = "V") -> str | None:
    found = child(el, *path)
    return found.get(name) if found is not None else None


def _idents(el: etree._Element) -> list[tuple[str | None, str | None]]:
    return [(text(i, "Id"), attr(i, "TypeId")) for i in el if local(i) == "Ident"]


def _best(idents: list[tuple[str | None, str | None]]) -> tuple[str | None, str | None]:
    """The HER-id when there is one (service-based addressing), else the first id."""
    for value, kind in idents:
        if kind == "HER" and value:
            return value, kind
    return idents[0] if idents else (None, None)


def read_party(el: etree._Element | None) -> Party | None:
    org = child(el, "Organisation")
    if org is None:
        return None
    org_id, org_type = _best(_idents(org))
    service = child(org, "Organisation")
    s_id, s_type = _best(_idents(service)) if service is not None else (None, None)
    hcp = child(service if service is not None else org, "HealthcareProfessional")
    p_id, p_type = _best(_idents(hcp)) if hcp is not None else (None, None)
    p_name = None
    if hcp is not None:
        p_name = " ".join(filter(None, (text(hcp, "GivenName"), text(hcp, "FamilyName")))) or None
    return Party(
        text(org, "OrganisationName"),
        org_id,
        org_type,
        text(service, "OrganisationName") if service is not None else None,
        s_id,
        s_type,
        p_name,
        p_id,
        p_type,
    )


def read_header(root: etree._Element) -> Header | None:
    """The header of a MsgHead-shaped document, or None when there is no MsgInfo to read."""
    info = child(root, "MsgInfo")
    if local(root) != "MsgHead" or info is None:
        return None
    patient = child(info, "Patient")
    pid, ptype = _best(_idents(patient)) if patient is not None else (None, None)
    return Header(
        attr(info, "Type"),
        attr(info, "Type", name="DN"),
        text(info, "GenDate"),
        text(info, "MsgId"),
        text(info, "ConversationRef", "RefToParent"),
        text(info, "ConversationRef", "RefToConversation"),
        read_party(child(info, "Sender")),
        read_party(child(info, "Receiver")),
        pid,
        ptype,
    )


def utc(value: str | None) -> str | None:
    """An XML dateTime as UTC text (the gateway's form); a local time is Europe/Oslo."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=OSLO)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
