"""The rules at the real HTTP intake: answers list failed rules, incomplete documents are held and
released by the event that completes them, logistics go out flagged, warnings travel with the message."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from adapters.fhir import codes
from gateway.rules.packs import LOCAL_EXAMPLE_PACK
from tests import builders as b
from tests.conftest import Client, header, issues, response_code, running, settings_for
from tests.hl7_builders import adt
from tests.rules.complete_stay import CompleteStay

NURSING = "8100011"  # Hamar hjemmesykepleie (demo directory)
ALLOCATION = "8100012"


@pytest.fixture
async def ruled(tmp_path: Path) -> AsyncIterator[Client]:
    async with running(settings_for(tmp_path, rule_packs=str(LOCAL_EXAMPLE_PACK))) as client:
        yield client


def rule_issues(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        i["details"]["coding"][0]["code"]: i for i in issues(response) if i.get("code") == "business-rule"
    }


async def post_all(gw: Client, bundles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for bundle in bundles:
        status, body = await gw.post_event(bundle)
        assert status == 200 and response_code(body) == "ok"
        out.append(body)
    return out


async def types_in_feed(gw: Client, her: str) -> list[str]:
    return [f"{e['messageType']}/{e['dispatchStatus']}" for e in await gw.feed(her)]


async def test_an_incomplete_report_is_held_and_released_by_its_correction(ruled: Client) -> None:
    """A report without the children section is held (answer and stay say why); its fix goes out as N."""
    stay = CompleteStay(with_epikrise=False)
    complete_sections = copy.deepcopy(stay.report_sections)
    stay.report_sections = [s for s in stay.report_sections if s["code"]["coding"][0]["code"] != "children"]
    answers = await post_all(ruled, stay.events())
    found = rule_issues(answers[-1])
    assert set(found) == {"UR-CHILDREN"}
    issue = found["UR-CHILDREN"]
    assert issue["severity"] == "error" and issue["expression"] == ["Composition.section[children]"]
    assert "HIS 1148:2014 §3" in issue["diagnostics"] and "held" in issue["diagnostics"]
    assert "Nordmann" not in str(answers[-1]) and b.FNR_HAMAR not in str(issues(answers[-1]))
    OperationOutcome.model_validate(answers[-1]["entry"][1]["resource"])  # a valid R4B resource
    assert "UTSKRIVNINGSRAPPORT/N" not in await types_in_feed(ruled, NURSING)
    assert "LOG_UTSKREVET/N" in await types_in_feed(ruled, NURSING)  # logistics are not held

    stays = (await ruled.get_json("/stays"))[1]["stays"]
    assert stays[0]["heldDocuments"] == ["UTSKRIVNINGSRAPPORT"] and stays[0]["heldReasons"] == ["UR-CHILDREN"]
    status, view = await ruled.get_json(stays[0]["href"])
    assert status == 200
    held = view["state"]["held"]  # to the nursing service and the GP's copy (demo directory)
    assert {h["notice"] for h in held} == {
        f"UTSKRIVNINGSRAPPORT:UR-1|{NURSING}",
        "UTSKRIVNINGSRAPPORT:UR-1|8200011",
    }
    assert all([r["ruleId"] for r in h["reasons"]] == ["UR-CHILDREN"] for h in held)

    stay.report_sections = complete_sections
    corrected = stay.events()[-1]
    (answer,) = await post_all(ruled, [corrected])
    assert rule_issues(answer) == {}
    assert (await types_in_feed(ruled, NURSING)).count("UTSKRIVNINGSRAPPORT/N") == 1
    status, view = await ruled.get_json(stays[0]["href"])
    assert view["state"]["held"] == []
    assert "heldDocuments" not in (await ruled.get_json("/stays"))[1]["stays"][0]


async def test_a_later_event_that_completes_the_stay_releases_the_held_report(ruled: Client) -> None:
    """The report lacks next of kin; an A08 that records them releases it, with no new document."""
    stay = CompleteStay(with_epikrise=False)
    contact = stay.patient.pop("contact")
    answers = await post_all(ruled, stay.events())
    assert {"UR-NEXT-OF-KIN", "LOC-NEXT-OF-KIN-PHONE"} <= set(rule_issues(answers[-1]))
    assert "UTSKRIVNINGSRAPPORT/N" not in await types_in_feed(ruled, NURSING)

    patient = b.patient()
    patient["contact"] = contact
    update = b.message(
        "A08", patient, stay.encounter(end=stay.discharge_time), event_time="2026-11-05T13:00:00+01:00"
    )
    (answer,) = await post_all(ruled, [update])
    assert "UR-NEXT-OF-KIN" not in rule_issues(answer)
    assert "UTSKRIVNINGSRAPPORT/N" in await types_in_feed(ruled, NURSING)


async def test_a_held_change_keeps_the_sent_version_in_force(ruled: Client) -> None:
    """An amended report that breaks a rule is held: no M goes out and the sent N is not cancelled."""
    stay = CompleteStay(with_epikrise=False)
    await post_all(ruled, stay.events())
    assert (await types_in_feed(ruled, NURSING)).count("UTSKRIVNINGSRAPPORT/N") == 1
    stay.report_sections = stay.report_sections[1:]  # drops the current problem
    (answer,) = await post_all(ruled, [stay.events()[-1]])
    assert "UR-PROBLEM" in rule_issues(answer)
    feed = await types_in_feed(ruled, NURSING)
    assert not [t for t in feed if t.startswith("UTSKRIVNINGSRAPPORT/") and not t.endswith("/N")]


async def test_logistics_go_out_flagged_and_warnings_travel_with_the_message(ruled: Client) -> None:
    """A ready notice lacking the four assessments goes out tagged with the rules; a warning tags a report."""
    stay = CompleteStay(with_epikrise=False, assessments={})
    stay.patient = b.patient(b.FNR_NO_GP)  # no GP: the local GP-copy rule warns
    stay.patient["contact"] = CompleteStay().patient["contact"]
    answers = await post_all(ruled, stay.events())
    ready_answer = rule_issues(answers[1])
    assert {"READY-ADMISSION-PROBLEMS", "READY-OTHER-PROBLEMS", "READY-UNCLARIFIED", "READY-FUNCTION"} <= set(
        ready_answer
    )
    assert "flagged" in ready_answer["READY-FUNCTION"]["diagnostics"]
    (ready,) = [
        m
        for m in await ruled.messages(ALLOCATION)
        if header(m)["eventCoding"]["code"] == "LOG_UTSKRIVNINGSKLAR"
    ]
    tags = {t["code"]: t["display"] for t in ready["meta"]["tag"] if t["system"] == codes.GW_RULE}
    assert tags["READY-FUNCTION"] == "error"
    (report,) = [
        m for m in await ruled.messages(NURSING) if header(m)["eventCoding"]["code"] == "UTSKRIVNINGSRAPPORT"
    ]
    assert {t["code"]: t["display"] for t in report["meta"]["tag"]} == {"LOC-GP-COPY": "warning"}
    assert rule_issues(answers[-1])["LOC-GP-COPY"]["severity"] == "warning"


async def test_an_hl7_event_failing_rules_gets_ae_with_an_err_per_rule(ruled: Client) -> None:
    """HL7 v2: the A16 is stored and its notice sent, and the ACK is AE with one ERR per failed rule."""
    async with ruled.session.post(ruled.base + "/hl7v2", data=adt("A01", "R1").encode()) as resp:
        assert resp.status == 200
        first = (await resp.read()).decode()
    assert "MSA|AA|R1" in first  # only an information-level rule failed (HL7 v2 has no services flag)
    assert "|I|EVT-SERVICES-EXPECTED^" in first
    a16 = adt("A16", "R2", evn_time="20261104090000").encode()
    async with ruled.session.post(ruled.base + "/hl7v2", data=a16) as resp:
        ack = (await resp.read()).decode()
    segments = ack.split("\r")
    assert segments[1].startswith("MSA|AE|R2|accepted; ")
    errs = {s.split("|")[5].split("^")[0]: s.split("|") for s in segments if s.startswith("ERR")}
    assert {"READY-ADMISSION-PROBLEMS", "READY-FUNCTION"} <= set(errs) and "LU-ADMITTED-AT" not in errs
    err = errs["READY-FUNCTION"]
    assert err[3] == "101^Required field missing^HL70357" and err[4] == "E"
    assert "FOR-2011-11-18-1115" in err[7] and "gw:ready-assessment" in err[7]
    assert "Nordmann" not in ack
    assert "LOG_UTSKRIVNINGSKLAR/N" in await types_in_feed(ruled, ALLOCATION)
