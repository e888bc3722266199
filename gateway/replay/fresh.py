"""Fresh identifiers for repeated replays: the same scenario again as new messages about new stays."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
from lxml import etree

from adapters.hl7v2.message import Message
from adapters.kith import safe_xml


def fresh_fhir(raw: bytes, suffix: str) -> bytes:
    bundle = orjson.loads(raw)
    for entry in bundle.get("entry") or []:
        res = entry.get("resource") or {}
        kind = res.get("resourceType")
        if kind == "MessageHeader":
            res["id"] = f"{res['id']}{suffix}"
        elif kind == "Encounter":
            for ident in res.get("identifier") or []:
                ident["value"] = f"{ident['value']}{suffix}"
        elif kind == "Composition" and isinstance(res.get("identifier"), dict):
            res["identifier"]["value"] = f"{res['identifier']['value']}{suffix}"
    return orjson.dumps(bundle)


def fresh_hl7(raw: bytes, suffix: str) -> bytes:
    """MSH-10, PV1-19 and TXA-12 get the suffix; everything else, encoding included, stays."""
    msg = Message.parse(raw)
    fs, cs = msg.sep.field, msg.sep.component
    targets = {"MSH": 10, "PV1": 19, "TXA": 12}
    out = []
    for seg in msg.segments:
        fields = list(seg)
        if seg[0] in targets and targets[seg[0]] < len(fields) and fields[targets[seg[0]]]:
            first, *rest = fields[targets[seg[0]]].split(cs)
            fields[targets[seg[0]]] = cs.join([first + suffix, *rest])
        if seg[0] == "MSH":
            fields = [fields[0] + fs + fields[2], *fields[3:]]  # MSH-1 is the separator itself
            out.append(fs.join(fields))
        else:
            out.append(fs.join(fields))
    charset = "latin-1" if msg.get("MSH-18").upper().startswith("8859") else "utf-8"
    return ("\r".join(out) + "\r").encode(charset)


def fresh_kith(raw: bytes, suffix: str) -> bytes:
    """A KITH document's own id (MsgHead MsgInfo/MsgId, AppRec Id) becomes another UUID, derived
    from it and the suffix (the standard wants a UUID there); what it refers to stays."""
    root = etree.fromstring(raw, safe_xml.PARSER)
    own = root.find("{*}MsgInfo/{*}MsgId") if etree.QName(root).localname == "MsgHead" else root.find("{*}Id")
    if own is None or not own.text:
        return raw
    own.text = str(uuid.uuid5(uuid.NAMESPACE_URL, own.text.strip() + suffix))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def with_suffix(path: Path, raw: bytes, suffix: str) -> bytes:
    """The input as a new message about new stays: its ids and stay keys end in `suffix`."""
    if not suffix:
        return raw
    maker = {".hl7": fresh_hl7, ".xml": fresh_kith}.get(path.suffix, fresh_fhir)
    return maker(raw, suffix)


def fresh(path: Path, round_number: int) -> bytes:
    return with_suffix(path, path.read_bytes(), f"-r{round_number}" if round_number else "")
