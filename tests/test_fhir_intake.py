"""FHIR messaging intake over real HTTP: answers, durability, duplicates and bad input."""

from __future__ import annotations

import copy

import orjson
import pytest

from adapters.fhir import codes
from tests import builders as b
from tests.conftest import Client, issues, response_code

NURSING_HAMAR, ALLOCATION_HAMAR, GP_HAMAR = "8100011", "8100012", "8200011"


def a01(visit: str = "V1", **kw: object) -> dict:
    return b.message("A01", b.patient(**kw), b.encounter(visit))  # type: ignore[arg-type]


async def test_admission_is_accepted_and_produces_the_admission_notices(gateway: Client) -> None:
    """A01 → ok, and LOG_INNLAGT to home nursing, the 24-hour notice to allocation, a notat to the GP."""
    status, response = await gateway.post_event(a01())
    assert status == 200 and response_code(response) == "ok"
    produced = [i["diagnostics"] for i in issues(response) if "as message" in i["diagnostics"]]
    assert [p.split(" ")[0] for p in produced] == ["LOG_INNLAGT", "HELSEOPPL_SOKNAD", "DIALOG_NOTAT"]
    assert [e["messageType"] for e in await gateway.feed(NURSING_HAMAR)] == ["LOG_INNLAGT"]
    assert [e["messageType"] for e in await gateway.feed(ALLOCATION_HAMAR)] == ["HELSEOPPL_SOKNAD"]
    assert [e["messageType"] for e in await gateway.feed(GP_HAMAR)] == ["DIALOG_NOTAT"]


async def test_the_same_message_id_again_gets_the_same_answer_and_no_second_processing(
    gateway: Client,
) -> None:
    event = a01()
    first = await gateway.post_event(event)
    again = await gateway.post_event(event)
    assert again == first
    assert len(await gateway.feed(NURSING_HAMAR)) == 1


async def test_a_duplicate_id_with_other_content_is_still_a_duplicate(gateway: Client) -> None:
    """MedCom and AppRec both key on the message id; the first content stays the evidence."""
    event = a01()
    await gateway.post_event(event)
    changed = copy.deepcopy(event)
    changed["entry"][3]["resource"]["period"]["start"] = "2026-11-03T10:00:00+01:00"
    status, _ = await gateway.post_event(changed)
    assert status == 200
    assert len(await gateway.feed(NURSING_HAMAR)) == 1


def _without_header(m: dict) -> dict:
    m["entry"] = m["entry"][1:]
    return m


def _no_focus(m: dict) -> dict:
    del m["entry"][0]["resource"]["focus"]
    return m


def _event(code: str):
    def change(m: dict) -> dict:
        m["entry"][0]["resource"]["eventCoding"]["code"] = code
        return m

    return change


def _bad_fnr(m: dict) -> dict:
    m["entry"][2]["resource"]["identifier"][0]["value"] = "12034512344"
    return m


def _no_encounter_id(m: dict) -> dict:
    del m["entry"][3]["resource"]["identifier"]
    return m


def _no_person_id(m: dict) -> dict:
    m["entry"][2]["resource"]["identifier"] = [{"system": "urn:local", "value": "123"}]
    return m


def _wrong_type(m: dict) -> dict:
    m["entry"][2]["resource"]["gender"] = 42
    return m


BAD = {
    "not JSON": (lambda m: b"{not json", 400, "$"),
    "wrong resourceType": (lambda m: {"resourceType": "Patient"}, 422, "$.resourceType"),
    "Bundle not a message": (lambda m: {**m, "type": "collection"}, 422, "Bundle.type"),
    "no MessageHeader": (_without_header, 422, "Bundle.entry[0]"),
    "no focus": (_no_focus, 422, "MessageHeader.focus"),
    "unknown event": (_event("A99"), 422, "MessageHeader.eventCoding"),
    "invalid fødselsnummer": (_bad_fnr, 422, "Patient.identifier[0].value"),
    "no Norwegian person id": (_no_person_id, 422, "Patient.identifier"),
    "Encounter without identifier": (_no_encounter_id, 422, "Encounter.identifier"),
    "wrong data type": (_wrong_type, 422, "Bundle.entry[2].resource.gender"),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_bad_input_gets_a_fatal_error_naming_the_problem_and_nothing_is_stored(
    gateway: Client, case: str
) -> None:
    mutate, http_status, location = BAD[case]
    body = mutate(copy.deepcopy(a01()))
    status, response = await gateway.post_event(body if isinstance(body, bytes) else orjson.dumps(body))
    assert status == http_status
    outcome = response if response["resourceType"] == "OperationOutcome" else response["entry"][1]["resource"]
    if response["resourceType"] == "Bundle":
        assert response_code(response) == "fatal-error"
    assert location in [loc for i in outcome["issue"] for loc in i.get("expression", [])]
    assert "12034512344" not in orjson.dumps(response).decode()  # no patient data echoed back
    assert await gateway.feed(NURSING_HAMAR) == []
    # and the service keeps serving
    status, _ = await gateway.post_event(a01("after-bad"))
    assert status == 200


async def test_a_body_over_the_size_limit_is_refused(gateway: Client) -> None:
    huge = b'{"resourceType": "Bundle", "pad": "' + b"x" * (gateway.settings.max_body_bytes + 10) + b'"}'
    status, response = await gateway.post_event(huge)
    assert status == 413
    assert response["issue"][0]["code"] == "too-long"


async def test_deeply_nested_json_is_refused_cheaply(gateway: Client) -> None:
    status, _response = await gateway.post_event(b"[" * 5000 + b"]" * 5000)
    assert status == 413


async def test_unknown_municipality_and_no_gp_are_accepted_and_reported(gateway: Client) -> None:
    status, response = await gateway.post_event(
        b.message("A01", b.patient(b.FNR_NO_GP, municipality="9999"), b.encounter())
    )
    assert status == 200 and response_code(response) == "ok"
    warnings = {i["expression"][0]: i["diagnostics"] for i in issues(response) if i["severity"] == "warning"}
    assert "9999" in warnings["Patient.address"]
    assert "Patient.generalPractitioner" in warnings


async def test_the_municipality_where_the_patient_stays_is_notified(gateway: Client) -> None:
    """Oppholdskommune: a temporary address in Ringsaker wins over the home address in Hamar."""
    await gateway.post_event(b.message("A01", b.patient(temp_municipality="3411"), b.encounter()))
    assert await gateway.feed(NURSING_HAMAR) == []
    assert [e["messageType"] for e in await gateway.feed("8100021")] == ["LOG_INNLAGT"]


async def test_the_gp_on_the_patient_wins_over_the_register(gateway: Client) -> None:
    await gateway.post_event(b.message("A01", b.patient(gp_her="8200021"), b.encounter()))
    assert await gateway.feed(GP_HAMAR) == []
    assert [e["messageType"] for e in await gateway.feed("8200021")] == ["DIALOG_NOTAT"]


async def test_d_nummer_patients_are_accepted(gateway: Client) -> None:
    status, _response = await gateway.post_event(b.message("A01", b.patient(b.DNR, "3407"), b.encounter()))
    assert status == 200
    assert [e["messageType"] for e in await gateway.feed("8200031")] == ["DIALOG_NOTAT"]


async def test_outbound_messages_are_valid_fhir_r4_message_bundles(gateway: Client) -> None:
    from fhir.resources.R4B.bundle import Bundle

    await gateway.post_event(a01())
    for her in (NURSING_HAMAR, ALLOCATION_HAMAR, GP_HAMAR):
        for bundle in await gateway.messages(her):
            Bundle.model_validate(bundle)
            head = bundle["entry"][0]["resource"]
            assert head["eventCoding"]["system"] in (codes.MESSAGE_TYPE, codes.GW_MESSAGE_TYPE)
            assert head["destination"][0]["endpoint"].endswith(her)


async def test_fhir_xml_is_accepted_and_answered_in_xml(gateway: Client) -> None:
    from fhir.resources.R4B.bundle import Bundle

    xml = Bundle.model_validate(a01("X1")).model_dump_xml()
    headers = {"Content-Type": "application/fhir+xml"}
    async with gateway.session.post(
        gateway.base + "/fhir/$process-message", data=xml, headers=headers
    ) as resp:
        assert resp.status == 200 and resp.content_type == "application/fhir+xml"
        answer = Bundle.model_validate_xml(await resp.read())
    assert answer.entry[0].resource.response.code == "ok"
    assert [e["messageType"] for e in await gateway.feed(NURSING_HAMAR)] == ["LOG_INNLAGT"]


async def test_xml_attacks_and_bad_xml_are_refused(gateway: Client) -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE Bundle [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Bundle xmlns="http://hl7.org/fhir"><id value="&x;"/><type value="message"/></Bundle>'
    )
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<Bundle xmlns="http://hl7.org/fhir"><id value="&b;"/></Bundle>'
    )
    for body in (
        xxe,
        bomb,
        b"<Bundle",
        b'<Bundle xmlns="http://hl7.org/fhir"><type value="nonsense"/></Bundle>',
    ):
        async with gateway.session.post(
            gateway.base + "/fhir/$process-message",
            data=body,
            headers={"Content-Type": "application/fhir+xml"},
        ) as resp:
            assert resp.status in (400, 422)
            assert b"root:" not in await resp.read()  # nothing of /etc/passwd
    assert await gateway.feed(NURSING_HAMAR) == []
