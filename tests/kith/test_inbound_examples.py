"""Every official AppRec and Dialogmelding example through POST /kith/inbound, and every official
negative example refused with a specific error (INDEX.tsv says which is which)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from lxml import etree

from adapters.kith.dialog import DIALOG_V1_0, DIALOG_V1_1
from adapters.kith.inbound import read_inbound
from adapters.kith.xsd import KithSchemas
from tests.conftest import Client
from tests.kith.kith_docs import (
    INDEX,
    KITH,
    MH,
    apprec_fields,
    example,
    get_json,
    hits_1168_apprecs,
    parse,
    post_kith,
)

DIALOGS = [r for r in INDEX if r["content-root"].startswith("Dialogmelding") and r["result"] == "VALID"]
APPRECS = [r for r in INDEX if r["root"] == "AppRec" and r["result"] == "VALID"]
NEGATIVE = [r for r in INDEX if r["result"] != "VALID"]


@pytest.fixture(scope="module")
def schemas() -> KithSchemas:
    return KithSchemas(KITH / "xsd")


def test_the_index_holds_the_examples_this_suite_counts_on() -> None:
    """The official set has eleven valid Dialogmelding, one AppRec and eight negative examples."""
    assert (len(DIALOGS), len(APPRECS), len(NEGATIVE)) == (11, 1, 8)


@pytest.mark.parametrize("row", DIALOGS, ids=[Path(r["file"]).name for r in DIALOGS])
async def test_every_official_dialogmelding_gets_a_valid_apprec_ok(
    gateway: Client, schemas: KithSchemas, row: dict[str, str]
) -> None:
    """A valid Dialogmelding is answered with an AppRec v1.0, status 1, valid against the official
    schema, mirroring the original's type, GenDate and MsgId and addressed back to its sender."""
    body = example(row)
    info = parse(body).find(f"{MH}MsgInfo")
    status, content_type, answer = await post_kith(gateway, body)
    assert (status, content_type) == (200, "application/xml")
    assert schemas.errors(etree.fromstring(answer)) == []
    fields = apprec_fields(answer)
    assert fields["status"] == "1" and fields["errors"] == []
    assert fields["original_id"] == info.findtext(f"{MH}MsgId")
    assert fields["original_type"] == info.find(f"{MH}Type").get("V") == row["MsgInfo/Type"]
    assert fields["original_date"] == info.findtext(f"{MH}GenDate")
    sender_org = info.find(f"{MH}Sender/{MH}Organisation")
    idents = sender_org.findall(f"{MH}Ident")
    her = [i for i in idents if i.find(f"{MH}TypeId").get("V") == "HER"] or idents
    assert fields["receiver_ids"][0] == her[0].findtext(f"{MH}Id")  # service-based: the HER-id
    # it refers to no message of ours: recorded, and listed as unlinked
    status, listed = await get_json(gateway, "/kith/inbound?status=unlinked")
    assert [d["id"] for d in listed["documents"]] == [f"kith:{fields['original_id']}"]


@pytest.mark.parametrize("row", DIALOGS, ids=[Path(r["file"]).name for r in DIALOGS])
def test_every_official_dialogmelding_is_read_to_its_content(
    schemas: KithSchemas, row: dict[str, str]
) -> None:
    """Version, kind, links, sender and every note and question are read as the document has them."""
    body = example(row)
    root = parse(body)
    dialog = read_inbound(body, schemas).dialog
    assert dialog is not None
    ns = DIALOG_V1_0 if DIALOG_V1_0 in row["content-root"] else DIALOG_V1_1
    assert dialog.version == {DIALOG_V1_0: "1.0", DIALOG_V1_1: "1.1"}[ns]
    kinds = {"DIALOG_NOTAT": "notat", "DIALOG_FORESPORSEL": "forespørsel", "DIALOG_SVAR": "svar"}
    assert dialog.kind == kinds.get(row["MsgInfo/Type"], "other")
    info = root.find(f"{MH}MsgInfo")
    assert dialog.header.ref_to_parent == info.findtext(f"{MH}ConversationRef/{MH}RefToParent")
    payload = next(root.iter(f"{{{ns}}}Dialogmelding"))
    notes = payload.findall(f"{{{ns}}}Notat")
    questions = payload.findall(f"{{{ns}}}Foresporsel")
    assert len(dialog.notes) == len(notes) and len(dialog.questions) == len(questions)
    for note, el in zip(dialog.notes, notes, strict=True):
        assert note.topic_code == el.find(f"{{{ns}}}TemaKodet").get("V")
        expected = " ".join(" ".join(el.find(f"{{{ns}}}TekstNotatInnhold").itertext()).split())
        assert " ".join((note.text or "").split()) == expected
    for question, el in zip(dialog.questions, questions, strict=True):
        assert question.type_code == el.find(f"{{{ns}}}TypeForesp").get("V")


def test_the_svar_example_is_read_as_an_answer_with_its_question() -> None:
    """The official 'svar på forespørsel' is a svar whose note repeats the question it answers."""
    dialog = read_inbound(
        example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml"), KithSchemas(KITH / "xsd")
    ).dialog
    assert dialog is not None and dialog.kind == "svar"
    assert dialog.header.ref_to_parent == "f0f88210-0111-11e8-8f1a-0800200c9a66"
    assert dialog.header.sender is not None and dialog.header.sender.her == "91096"
    note = dialog.notes[0]
    assert note.topic_code == "5" and note.text is not None and note.text.startswith("eresept på cetirizin")
    assert note.question is not None and note.question.startswith("Pas går snart tom")


async def test_the_official_apprec_is_recorded_as_ok_with_errors_for_an_unknown_message(
    gateway: Client,
) -> None:
    """The NPR example (status 3, five errors from list 8223) answers no message of ours: it is
    recorded with every error code and text, and reported at /receipts/unknown."""
    status, content_type, answer = await post_kith(gateway, example(APPRECS[0]))
    assert (status, content_type) == (202, "application/json")
    body = orjson.loads(answer)
    assert body["status"] == "ok-with-errors" and body["known"] is False
    assert body["messageId"] == "1b08b3f5-76c1-4560-ae4e-90e04cb0bc70"
    assert [e["code"] for e in body["errors"]] == ["53", "1239", "531", "53", "531"]
    assert body["errors"][1]["text"] == "Sum krav overstiger maksimal egenandel for pasientreiser."
    assert {e["system"] for e in body["errors"]} == {"2.16.578.1.12.4.1.1.8223"}
    status, unknown = await get_json(gateway, "/receipts/unknown")
    assert [(r["messageId"], r["status"], r["format"]) for r in unknown["receipts"]] == [
        ("1b08b3f5-76c1-4560-ae4e-90e04cb0bc70", "ok-with-errors", "apprec")
    ]


async def test_the_apprec_v1_1_examples_of_hits_1168_are_read(gateway: Client) -> None:
    """AppRec v1.1 (2012-02-15): the OK example and the Avvist example with E36, from HITS 1168 §10."""
    ok, rejected = hits_1168_apprecs()
    status, _, answer = await post_kith(gateway, ok)
    assert status == 202
    body = orjson.loads(answer)
    assert (body["status"], body["messageId"], body["errors"]) == (
        "ok",
        "4c793d90-c41b-11e0-962b-0800200c9a66",
        [],
    )
    status, _, answer = await post_kith(gateway, rejected)
    body = orjson.loads(answer)
    assert body["status"] == "rejected"
    assert body["messageId"] == "e0e21a90-5ec8-11e1-b86c-0800200c9a66"
    assert [(e["code"], e["text"].strip()) for e in body["errors"]] == [
        ("E36", "Pasientopplysninger er utilstrekkelige")
    ]


@pytest.mark.parametrize("row", NEGATIVE, ids=[Path(r["file"]).name for r in NEGATIVE])
async def test_every_official_negative_example_is_refused_with_a_specific_error(
    gateway: Client, schemas: KithSchemas, row: dict[str, str]
) -> None:
    """NOT-WELL-FORMED → T01, INVALID → T02: an AppRec Avvist when the sender can be read, else problem
    details naming the code; the gateway keeps answering."""
    expected_code = "T01" if row["result"] == "NOT-WELL-FORMED" else "T02"
    status, content_type, answer = await post_kith(gateway, example(row))
    assert status == (400 if expected_code == "T01" else 422)
    if content_type == "application/xml":
        assert schemas.errors(etree.fromstring(answer)) == []
        fields = apprec_fields(answer)
        assert fields["status"] == "2" and fields["errors"] == [expected_code]
        assert fields["error_details"][0]  # says what is wrong, beyond the code
    else:
        assert content_type == "application/problem+json"
        problem = orjson.loads(answer)
        assert {e["apprec"] for e in problem["errors"]} == {expected_code}
    assert (await get_json(gateway, "/health"))[0] == 200
