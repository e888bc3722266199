"""Inbound KITH documents for tests, made from the official examples (read, never edited)."""

from __future__ import annotations

import csv
import re
from typing import Any

from lxml import etree

from tests.conftest import SHARED, Client

KITH = SHARED / "standards" / "kith"
EXAMPLES = KITH / "examples"
INDEX = list(csv.DictReader((EXAMPLES / "INDEX.tsv").open(encoding="utf-8"), delimiter="\t"))
APPREC_V1_0 = "http://www.kith.no/xmlstds/apprec/2004-11-21"
APPREC_V1_1 = "http://www.kith.no/xmlstds/apprec/2012-02-15"
MH = "{http://www.kith.no/xmlstds/msghead/2006-05-24}"
PLAIN = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def example(row_or_name: dict[str, str] | str) -> bytes:
    if isinstance(row_or_name, dict):
        return (KITH / row_or_name["file"]).read_bytes()
    return next((KITH / r["file"]).read_bytes() for r in INDEX if r["file"].endswith(row_or_name))


def hits_1168_apprecs() -> list[bytes]:
    """The two AppRec v1.1 examples printed in HITS 1168 §10 (OK, and Avvist with E36), as XML.

    The text extract wraps one namespace URI over two lines; that is joined again, nothing else."""
    text = next((KITH / "docs").glob("HITS_1168_*.txt")).read_text(encoding="utf-8")
    text = text.replace("XMLSchema-\ninstance", "XMLSchema-instance")
    return [m.group(0).encode() for m in re.finditer(r"<\?xml.*?</AppRec>", text, re.S)][:2]


async def post_kith(client: Client, body: bytes) -> tuple[int, str, bytes]:
    async with client.session.post(
        client.base + "/kith/inbound", data=body, headers={"Content-Type": "application/xml"}
    ) as resp:
        return resp.status, resp.content_type, await resp.read()


def parse(body: bytes) -> etree._Element:
    return etree.fromstring(body, PLAIN)


def apprec_fields(body: bytes) -> dict[str, Any]:
    """Status, errors and OriginalMsgId of an AppRec v1.0 the gateway sent."""
    root = parse(body)
    ns = {"a": APPREC_V1_0}
    return {
        "status": root.find("a:Status", ns).get("V"),
        "errors": [e.get("V") for e in root.findall("a:Error", ns)],
        "error_details": [e.get("OT") or "" for e in root.findall("a:Error", ns)],
        "original_type": root.find("a:OriginalMsgId/a:MsgType", ns).get("V"),
        "original_date": root.findtext("a:OriginalMsgId/a:IssueDate", namespaces=ns),
        "original_id": root.findtext("a:OriginalMsgId/a:Id", namespaces=ns),
        "receiver_ids": [e.text for e in root.iterfind("a:Receiver//a:Id", ns)],
        "sender_ids": [e.text for e in root.iterfind("a:Sender//a:Id", ns)],
    }


def with_apprec_values(
    body: bytes, *, original_id: str, receipt_id: str, status: str = "1", errors: list[tuple[str, str]] = ()
) -> bytes:
    """An official AppRec with its OriginalMsgId, Id, Status and Errors set for one of our messages."""
    root = parse(body)
    ns = etree.QName(root).namespace
    q = f"{{{ns}}}"
    root.find(f"{q}Id").text = receipt_id
    root.find(f"{q}OriginalMsgId/{q}Id").text = original_id
    root.find(f"{q}Status").set("V", status)
    for old in root.findall(f"{q}Error"):
        root.remove(old)
    at = list(root).index(root.find(f"{q}OriginalMsgId"))
    for n, (code, text) in enumerate(errors):
        err = etree.Element(f"{q}Error", V=code, S="2.16.578.1.12.4.1.1.8221", DN=text)
        root.insert(at + n, err)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def dialog_answer(
    *,
    msg_id: str,
    refers_to: str,
    conversation: str | None = None,
    person: str | None = None,
    topic: str | None = None,
    date: str | None = None,
    gen_date: str | None = None,
) -> bytes:
    """The official 'svar på forespørsel' Dialogmelding 1.0, re-addressed as an answer to our message."""
    root = parse(example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml"))
    info = root.find(f"{MH}MsgInfo")
    info.find(f"{MH}Type").set("V", "DIALOG_NOTAT")
    info.find(f"{MH}MsgId").text = msg_id
    if gen_date:
        info.find(f"{MH}GenDate").text = gen_date
    info.find(f"{MH}ConversationRef/{MH}RefToParent").text = refers_to
    info.find(f"{MH}ConversationRef/{MH}RefToConversation").text = conversation or refers_to
    if person:
        info.find(f"{MH}Patient/{MH}Ident/{MH}Id").text = person
    notat = next(root.iter("{http://www.kith.no/xmlstds/dialog/2006-10-11}Notat"))
    d = "{http://www.kith.no/xmlstds/dialog/2006-10-11}"
    if topic:
        notat.find(f"{d}TemaKodet").set("V", topic)
    if date:
        # DatoNotat follows TekstNotatInnhold (and Merknad/DokIdNotat, absent here) in the schema
        tekst = notat.find(f"{d}TekstNotatInnhold")
        dato = etree.Element(f"{d}DatoNotat")
        dato.text = date
        tekst.addnext(dato)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def get_json(client: Client, path: str) -> tuple[int, Any]:
    async with client.session.get(client.base + path) as resp:
        return resp.status, await resp.json(content_type=None)
