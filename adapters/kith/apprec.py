"""AppRec (HIS 80415, HITS 1168): reading receipts for our messages, writing ours for theirs.

Both versions are read: v1.0 (2004-11-21) and v1.1 (2012-02-15) differ in namespace and in the
type of a few code elements, not in the fields the gateway uses. The gateway answers in v1.0,
the version the PLO messages name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from adapters.kith.msghead import Header, Party, attr, child, local, text

V1_0 = "http://www.kith.no/xmlstds/apprec/2004-11-21"
V1_1 = "http://www.kith.no/xmlstds/apprec/2012-02-15"
VERSIONS = {V1_0: "1.0", V1_1: "1.1"}

STATUS_8258 = {
    "1": ("ok", "OK"),
    "2": ("rejected", "Avvist"),
    "3": ("ok-with-errors", "OK, feil i delmelding"),
}
ERRORS_8221 = {
    "T01": "Ikke XML / ikke 'well formed' / uleselig",
    "T02": "XML validerer ikke",
    "T10": "Støtter ikke meldingsformatet",
    "T99": "Annen feil på format",
    "E10": "Ugyldig meldingsidentifikator",
    "E21": "Mottaker finnes ikke",
    "E35": "Pasienten finnes ikke i mottakersystemet",
    "E36": "Pasientopplysninger er utilstrekkelig",
    "X99": "Annen feil",
}
OID_8221 = "2.16.578.1.12.4.1.1.8221"
OID_8258 = "2.16.578.1.12.4.1.1.8258"


@dataclass(frozen=True, slots=True)
class ReceiptError:
    code: str
    text: str  # the code's text (DN)
    system: str | None = None  # 8221, or a message-specific list such as 8223
    detail: str | None = None  # OT: the sender's additional text

    def as_dict(self) -> dict[str, str]:
        out = {"code": self.code, "text": self.text}
        if self.system:
            out["system"] = self.system
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True, slots=True)
class AppRec:
    version: str  # 1.0 | 1.1
    id: str
    gen_date: str
    status_code: str  # 8258
    status: str  # ok | rejected | ok-with-errors
    original_type: str | None
    original_issue_date: str
    original_id: str
    sender: str | None  # HER-id (or other id) of who answered, most specific first
    receiver: str | None
    errors: list[ReceiptError] = field(default_factory=list)


def _hcp_id(el: etree._Element | None) -> str | None:
    """Dept id (the service), else Inst id, else a person's id."""
    inst = child(el, "HCP", "Inst")
    for dept in (c for c in inst if local(c) == "Dept") if inst is not None else ():
        if text(dept, "Id"):
            return text(dept, "Id")
    return text(inst, "Id") or text(el, "HCP", "HCProf", "Id")


def read_apprec(root: etree._Element) -> AppRec:
    """A schema-valid AppRec (v1.0 or v1.1) as data."""
    status_code = attr(root, "Status") or ""
    errors = [
        ReceiptError(
            e.get("V") or "", e.get("DN") or ERRORS_8221.get(e.get("V") or "", ""), e.get("S"), e.get("OT")
        )
        for e in root
        if local(e) == "Error"
    ]
    original = child(root, "OriginalMsgId")
    return AppRec(
        VERSIONS[etree.QName(root).namespace or ""],
        text(root, "Id") or "",
        text(root, "GenDate") or "",
        status_code,
        STATUS_8258.get(status_code, ("unknown", ""))[0],
        attr(original, "MsgType"),
        text(original, "IssueDate") or "",
        text(original, "Id") or "",
        _hcp_id(child(root, "Sender")),
        _hcp_id(child(root, "Receiver")),
        errors,
    )


def _inst(parent: etree._Element, party: Party | None) -> None:
    """Service-based addressing, as HITS 1168 §11 maps MsgHead parties into an AppRec."""
    q = f"{{{V1_0}}}"
    hcp = etree.SubElement(parent, q + "HCP")
    inst = etree.SubElement(hcp, q + "Inst")
    if party is None:
        return
    if party.name:
        etree.SubElement(inst, q + "Name").text = party.name
    if party.id:
        etree.SubElement(inst, q + "Id").text = party.id
        etree.SubElement(inst, q + "TypeId", V=party.id_type or "HER")
    if party.service_id or party.service_name:
        dept = etree.SubElement(inst, q + "Dept")
        if party.service_name:
            etree.SubElement(dept, q + "Name").text = party.service_name
        if party.service_id:
            etree.SubElement(dept, q + "Id").text = party.service_id
            etree.SubElement(dept, q + "TypeId", V=party.service_id_type or "HER")
    elif party.person_id and party.person_id_type == "HER":
        person = etree.SubElement(inst, q + "HCPerson")
        if party.person_name:
            etree.SubElement(person, q + "Name").text = party.person_name
        etree.SubElement(person, q + "Id").text = party.person_id
        etree.SubElement(person, q + "TypeId", V="HER")


def render_apprec(
    original: Header, status_code: str, errors: list[ReceiptError], apprec_id: str, gen_date: str
) -> bytes:
    """Our AppRec v1.0 for a message we received: sender and receiver swapped, OriginalMsgId mirrored."""
    q = f"{{{V1_0}}}"
    root = etree.Element(q + "AppRec", nsmap={None: V1_0})
    etree.SubElement(root, q + "MsgType", V="APPREC")
    etree.SubElement(root, q + "MIGversion").text = "1.0 2004-11-21"
    etree.SubElement(root, q + "SoftwareName").text = "discharge-handover-gateway"
    etree.SubElement(root, q + "GenDate").text = gen_date
    etree.SubElement(root, q + "Id").text = apprec_id
    _inst(etree.SubElement(root, q + "Sender"), original.receiver)
    _inst(etree.SubElement(root, q + "Receiver"), original.sender)
    etree.SubElement(root, q + "Status", V=status_code, DN=STATUS_8258[status_code][1])
    for err in errors:
        e = etree.SubElement(root, q + "Error", V=err.code, S=err.system or OID_8221, DN=err.text)
        if err.detail:
            e.set("OT", err.detail[:1000])
    orig = etree.SubElement(root, q + "OriginalMsgId")
    etree.SubElement(orig, q + "MsgType", V=original.msg_type or "", DN=original.msg_type_dn or "")
    etree.SubElement(orig, q + "IssueDate").text = (
        original.gen_date if _is_datetime(original.gen_date) else gen_date
    )
    etree.SubElement(orig, q + "Id").text = original.msg_id or ""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _is_datetime(value: str | None) -> bool:
    """Mirror the original's GenDate only when it is a dateTime (a T02 may be about that very field)."""
    if not value:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value
