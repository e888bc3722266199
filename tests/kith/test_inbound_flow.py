"""AppRec and Dialogmelding against real outbound messages: receipt status, stay timeline, duplicates,
durability, and the negative answers (T01, T02, T10, E10) on documents made from official examples."""

from __future__ import annotations

from pathlib import Path

import orjson
from lxml import etree

from adapters.kith.xsd import KithSchemas
from gateway import cli
from gateway.clock import SystemClock
from gateway.config import load_settings
from gateway.ids import new_id
from gateway.intake.kith import KithIntake
from gateway.privacy import Pseudonymizer
from gateway.store.cipher import NoCipher
from gateway.store.engines import open_store
from tests import builders as b
from tests import raw_store
from tests.conftest import Client
from tests.kith.kith_docs import (
    KITH,
    MH,
    apprec_fields,
    dialog_answer,
    example,
    get_json,
    hits_1168_apprecs,
    parse,
    post_kith,
    with_apprec_values,
)

ALLOCATION = "8100012"
T_ADMIT = "2026-11-02T10:00:00+01:00"
T_READY = "2026-11-05T09:00:00+01:00"
SCHEMAS = KithSchemas(KITH / "xsd")


async def ready_notice(gateway: Client) -> tuple[str, int]:
    """Drive an admission and an A16 through the gateway: (LOG_UTSKRIVNINGSKLAR message id, stay id)."""
    await gateway.post_event(b.message("A01", b.patient(), b.encounter(), event_time=T_ADMIT))
    await gateway.post_event(b.message("A16", b.patient(), b.encounter(ready=T_READY), event_time=T_READY))
    entry = next(e for e in await gateway.feed(ALLOCATION) if e["messageType"] == "LOG_UTSKRIVNINGSKLAR")
    _status, stays = await get_json(gateway, "/stays")
    return entry["messageId"], stays["stays"][0]["stayId"]


def official_apprec_v1_0() -> bytes:
    return example("apprec-eksempel.xml")


async def test_an_apprec_avvist_sets_the_receipt_status_of_our_message(gateway: Client) -> None:
    """An AppRec v1.0 (status 2, T02 and E21) for our LOG_UTSKRIVNINGSKLAR marks it rejected with the
    codes and texts, and takes it off the missing-receipts list."""
    message_id, _ = await ready_notice(gateway)
    status, missing = await get_json(gateway, "/receipts/missing?olderThanHours=-1")
    assert message_id in {m["messageId"] for m in missing["messages"]}
    apprec = with_apprec_values(
        official_apprec_v1_0(),
        original_id=message_id,
        receipt_id=new_id(),
        status="2",
        errors=[("T02", "XML validerer ikke"), ("E21", "Mottaker finnes ikke")],
    )
    status, content_type, answer = await post_kith(gateway, apprec)
    assert (status, content_type) == (201, "application/json")
    assert orjson.loads(answer)["known"] is True
    status, receipts = await get_json(gateway, f"/messages/{message_id}/receipts")
    assert receipts["receiptStatus"] == "rejected"
    assert [(e["code"], e["text"]) for e in receipts["receipts"][0]["errors"]] == [
        ("T02", "XML validerer ikke"),
        ("E21", "Mottaker finnes ikke"),
    ]
    assert receipts["receipts"][0]["format"] == "apprec"
    assert receipts["receipts"][0]["sender"] == "889640782"  # the example's Inst/Id
    status, missing = await get_json(gateway, "/receipts/missing?olderThanHours=-1")
    assert message_id not in {m["messageId"] for m in missing["messages"]}


async def test_an_apprec_v1_1_ok_and_status_3_are_read_for_our_message(gateway: Client) -> None:
    """HITS 1168's v1.1 OK example, re-pointed at our message, sets it ok; a later status 3 sets it
    ok-with-errors (the latest receipt decides)."""
    message_id, _ = await ready_notice(gateway)
    ok, _ = hits_1168_apprecs()
    await post_kith(gateway, with_apprec_values(ok, original_id=message_id, receipt_id=new_id()))
    status, receipts = await get_json(gateway, f"/messages/{message_id}/receipts")
    assert receipts["receiptStatus"] == "ok" and receipts["receipts"][0]["errors"] == []
    partial = with_apprec_values(
        ok, original_id=message_id, receipt_id=new_id(), status="3", errors=[("X99", "Annen feil")]
    )
    status, _, _ = await post_kith(gateway, partial)
    assert status == 201
    status, receipts = await get_json(gateway, f"/messages/{message_id}/receipts")
    assert receipts["receiptStatus"] == "ok-with-errors" and len(receipts["receipts"]) == 2


async def test_a_duplicate_apprec_is_idempotent(gateway: Client) -> None:
    """The same AppRec twice records one receipt and gets the same answer."""
    message_id, _ = await ready_notice(gateway)
    apprec = with_apprec_values(official_apprec_v1_0(), original_id=message_id, receipt_id=new_id())
    first = await post_kith(gateway, apprec)
    second = await post_kith(gateway, apprec)
    assert first == second and first[0] == 201
    _status, receipts = await get_json(gateway, f"/messages/{message_id}/receipts")
    assert len(receipts["receipts"]) == 1


async def test_the_municipality_cannot_take_the_patient_until_a_date(gateway: Client) -> None:
    """A Dialogmelding notat answering our LOG_UTSKRIVNINGSKLAR (TemaKodet KAN_IKKE_MOTTA, DatoNotat)
    gets an AppRec OK and lands on the stay: timeline event and folded answer with the date."""
    message_id, stay_id = await ready_notice(gateway)
    msg_id = new_id()
    body = dialog_answer(
        msg_id=msg_id,
        refers_to=message_id,
        person=b.FNR_HAMAR,
        topic="KAN_IKKE_MOTTA",
        date="2026-11-09",
        gen_date="2026-11-05T10:30:00",
    )
    assert SCHEMAS.errors(parse(body)) == []  # the test document itself is valid
    status, _, answer = await post_kith(gateway, body)
    assert status == 200 and apprec_fields(answer)["status"] == "1"
    assert apprec_fields(answer)["original_id"] == msg_id
    status, stay = await get_json(gateway, f"/stays/{stay_id}")
    assert [e["code"] for e in stay["timeline"] if e["kind"] == "event"] == ["A01", "A16", "READY_ANSWER"]
    [answer_state] = stay["state"]["ready_answers"]
    assert answer_state["can_receive"] == "no" and answer_state["from"] == "2026-11-09"
    assert answer_state["answers"] == message_id and answer_state["message_id"] == msg_id
    # its GenDate (local time, Europe/Oslo) is the answer's time; when it arrived is kept too
    assert answer_state["at"] == "2026-11-05T09:30:00Z" and answer_state["received"]


async def test_a_yes_answer_survives_the_next_hospital_event(gateway: Client) -> None:
    """A 'can take the patient' answer found through RefToConversation is kept when the stay is
    folded again by a later hospital event: it is a stored stay event, not a cached field."""
    message_id, stay_id = await ready_notice(gateway)
    body = dialog_answer(
        msg_id=new_id(), refers_to=new_id(), conversation=message_id, person=b.FNR_HAMAR, topic="KAN_MOTTA"
    )
    status, _, _ = await post_kith(gateway, body)
    assert status == 200
    await gateway.post_event(
        b.message("A08", b.patient(), b.encounter(), event_time="2026-11-05T12:00:00+01:00")
    )
    status, stay = await get_json(gateway, f"/stays/{stay_id}")
    [answer_state] = stay["state"]["ready_answers"]
    assert answer_state["can_receive"] == "yes" and answer_state["from"] is None


async def test_free_text_answers_are_kept_as_unclear(gateway: Client) -> None:
    """An answer with a topic code outside the agreed convention is on the stay as 'unclear': the
    gateway does not guess from free text."""
    message_id, stay_id = await ready_notice(gateway)
    body = dialog_answer(msg_id=new_id(), refers_to=message_id, person=b.FNR_HAMAR)
    await post_kith(gateway, body)
    _status, stay = await get_json(gateway, f"/stays/{stay_id}")
    assert [a["can_receive"] for a in stay["state"]["ready_answers"]] == ["unclear"]


async def test_an_answer_naming_another_patient_is_not_put_on_the_stay(gateway: Client) -> None:
    """A Dialogmelding referring to our message but naming a different person is received (AppRec OK),
    kept and reported as patient-mismatch, and never attached to that stay."""
    message_id, stay_id = await ready_notice(gateway)
    msg_id = new_id()
    body = dialog_answer(msg_id=msg_id, refers_to=message_id, person=b.FNR_RINGSAKER, topic="KAN_MOTTA")
    status, _, answer = await post_kith(gateway, body)
    assert status == 200 and apprec_fields(answer)["status"] == "1"
    status, stay = await get_json(gateway, f"/stays/{stay_id}")
    assert stay["state"]["ready_answers"] == []
    status, listed = await get_json(gateway, "/kith/inbound?status=patient-mismatch")
    assert [d["id"] for d in listed["documents"]] == [f"kith:{msg_id}"]


async def test_a_duplicate_dialogmelding_gets_the_same_apprec_and_is_attached_once(gateway: Client) -> None:
    """The same MsgId again gets byte-for-byte the same AppRec; the stay has one answer."""
    message_id, stay_id = await ready_notice(gateway)
    body = dialog_answer(msg_id=new_id(), refers_to=message_id, person=b.FNR_HAMAR, topic="KAN_MOTTA")
    first = await post_kith(gateway, body)
    second = await post_kith(gateway, body)
    assert first == second
    _status, stay = await get_json(gateway, f"/stays/{stay_id}")
    assert len(stay["state"]["ready_answers"]) == 1


async def test_an_answered_document_is_already_committed(gateway: Client) -> None:
    """When the AppRec arrives, the Dialogmelding and the AppRec given are in the database file,
    read through a separate connection."""
    message_id, _ = await ready_notice(gateway)
    msg_id = new_id()
    _, _, answer = await post_kith(
        gateway, dialog_answer(msg_id=msg_id, refers_to=message_id, person=b.FNR_HAMAR)
    )
    (row,) = raw_store.rows(
        gateway.settings,
        "SELECT channel, status, response FROM inbound WHERE message_id = ?",
        (f"kith:{msg_id}",),
    )
    assert row[0] == "kith" and row[1] == "processed" and bytes(row[2]) == answer


def _set(body: bytes, path: str, value: str) -> bytes:
    root = parse(body)
    root.find(path).text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


async def test_a_schema_invalid_dialogmelding_gets_apprec_avvist_t02(gateway: Client) -> None:
    """A Dialogmelding whose GenDate is not a dateTime is rejected with T02, addressed to its sender,
    and the error text does not repeat the offending value."""
    body = _set(
        example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml"), f"{MH}MsgInfo/{MH}GenDate", "13116900216"
    )
    status, content_type, answer = await post_kith(gateway, body)
    assert (status, content_type) == (422, "application/xml")
    assert SCHEMAS.errors(parse(answer)) == []
    fields = apprec_fields(answer)
    assert fields["status"] == "2" and fields["errors"] == ["T02"]
    assert "GenDate" in fields["error_details"][0] and "13116900216" not in answer.decode()
    # the same MsgId again: the same receipt (a receipt is final)
    assert await post_kith(gateway, body) == (422, "application/xml", answer)


async def test_a_truncated_dialogmelding_gets_apprec_avvist_t01(gateway: Client) -> None:
    """A Dialogmelding cut off mid-document is not well-formed: T01, addressed to the sender read
    from what could be salvaged."""
    body = example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml")
    status, content_type, answer = await post_kith(gateway, body[: len(body) // 2])
    assert (status, content_type) == (400, "application/xml")
    fields = apprec_fields(answer)
    assert fields["errors"] == ["T01"] and fields["original_id"] == "42001f60-0117-11e8-8f1a-0800200c9a66"
    assert fields["receiver_ids"][0] == "91096"


async def test_bytes_that_are_not_xml_get_problem_details(gateway: Client) -> None:
    """With no sender to address an AppRec to, not-XML is a 400 problem naming T01."""
    status, content_type, answer = await post_kith(gateway, b"MSH|^~\\&|EPJ|not xml at all")
    assert (status, content_type) == (400, "application/problem+json")
    assert orjson.loads(answer)["errors"][0]["apprec"] == "T01"


async def test_a_plo_message_sent_to_the_inbound_door_gets_t10(gateway: Client) -> None:
    """A valid MsgHead carrying something other than Dialogmelding (an official LOG_DOD) is T10."""
    body = example("Pasientlogistikk_Orientering_om_dodsfall_v1-5_Ny.xml")
    status, content_type, answer = await post_kith(gateway, body)
    assert (status, content_type) == (422, "application/xml")
    fields = apprec_fields(answer)
    assert fields["errors"] == ["T10"] and "LOG_DOD" in fields["error_details"][0]


async def test_a_msgid_that_is_not_a_uuid_gets_e10(gateway: Client) -> None:
    """HIS 80415: a MsgId that is not a UUID is rejected with E10."""
    body = _set(example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml"), f"{MH}MsgInfo/{MH}MsgId", "msg-17")
    status, content_type, answer = await post_kith(gateway, body)
    assert (status, content_type) == (422, "application/xml")
    assert apprec_fields(answer)["errors"] == ["E10"]


async def test_a_msghead_in_a_foreign_namespace_gets_t10(gateway: Client) -> None:
    """A MsgHead in a namespace we do not support is T10, addressed by reading the header by name."""
    body = example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml").replace(
        b"http://www.kith.no/xmlstds/msghead/2006-05-24", b"urn:example:msghead"
    )
    status, content_type, answer = await post_kith(gateway, body)
    assert (status, content_type) == (422, "application/xml")
    assert apprec_fields(answer)["errors"] == ["T10"]


async def test_an_invalid_apprec_is_refused_without_an_apprec(gateway: Client) -> None:
    """An AppRec without its Status fails the schema: problem details with T02, never an AppRec back."""
    root = parse(official_apprec_v1_0())
    root.remove(root.find("{http://www.kith.no/xmlstds/apprec/2004-11-21}Status"))
    status, content_type, answer = await post_kith(gateway, etree.tostring(root))
    assert (status, content_type) == (422, "application/problem+json")
    problem = orjson.loads(answer)
    assert problem["errors"][0]["apprec"] == "T02" and "Status" in problem["detail"]


async def test_an_apprec_in_an_unknown_namespace_is_refused_without_an_apprec(gateway: Client) -> None:
    """An AppRec root in a namespace that is neither v1.0 nor v1.1 is T10, as problem details."""
    body = official_apprec_v1_0().replace(b"apprec/2004-11-21", b"apprec/2099-01-01")
    status, content_type, answer = await post_kith(gateway, body)
    assert (status, content_type) == (422, "application/problem+json")
    assert orjson.loads(answer)["errors"][0]["apprec"] == "T10"


def test_files_go_through_the_same_intake(tmp_path: Path) -> None:
    """`gateway kith-receive` answers a Dialogmelding file with an AppRec OK file and a broken one with
    an AppRec Avvist T01, and records both in the gateway's database."""
    good = tmp_path / "svar.xml"
    good.write_bytes(example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml"))
    broken = tmp_path / "broken.xml"
    broken.write_bytes(example("Dialogmelding_foresporsel_PLO_v1-0.xml")[:1500])  # another MsgId
    data = tmp_path / "data"
    code = cli.main(["kith-receive", "--data-dir", str(data), str(good), str(broken)])
    assert code == 1  # one of them was refused
    assert apprec_fields((tmp_path / "svar.xml.apprec.xml").read_bytes())["status"] == "1"
    assert apprec_fields((tmp_path / "broken.xml.apprec.xml").read_bytes())["errors"] == ["T01"]
    settings = load_settings(overrides={"data_dir": data})  # as the command read them (environment too)
    rows = raw_store.rows(settings, "SELECT status FROM inbound WHERE channel = 'kith' ORDER BY seq")
    assert rows == [("unlinked",), ("rejected",)]


async def test_a_store_that_cannot_commit_gets_no_receipt_but_a_503(
    tmp_path: Path, database_url: str
) -> None:
    """When the store cannot commit, no AppRec OK is given (it would claim a receipt we cannot prove):
    a 503 transient problem instead, so the sender sends again."""
    store = open_store(database_url, tmp_path / "db.sqlite", NoCipher())
    await store.start()
    await store.close()
    intake = KithIntake(store, SystemClock(), SCHEMAS, Pseudonymizer(b"k" * 32), 1 << 20)
    reply = await intake.receive(example("Dialogmelding_svar_foresporsel_PLO_v1-0.xml"))
    assert (reply.status, reply.content_type) == (503, "application/problem+json")
    assert orjson.loads(reply.body)["errors"][0]["kind"] == "transient"
