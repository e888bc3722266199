"""FHIR intake with `Prefer: respond-async`: the contract and the sender's rights checked and the
event stored before 202; the models, processing and the response Bundle after, in the inbox, at
the Content-Location for the sender alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.problems import Problem
from gateway.auth.scopes import EVENTS_POST
from gateway.intake.inbox import Inbox
from tests import builders as b
from tests.conftest import Client, auth_headers, header, issues, running, settings_for

NURSING = "8100011"
ASYNC = {"Content-Type": "application/fhir+json", "Prefer": "respond-async"}


async def post_async(gw: Client, bundle: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with gw.session.post(
        f"{gw.base}/fhir/$process-message", data=orjson.dumps(bundle), headers=ASYNC
    ) as resp:
        return resp.status, dict(resp.headers), orjson.loads(await resp.read())


async def outcome(gw: Client, location: str, **headers: str) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(10):
        while True:
            async with gw.session.get(gw.base + location, headers=headers) as resp:
                body = orjson.loads(await resp.read())
                if resp.status != 202:
                    return resp.status, body
            await asyncio.sleep(0.01)


async def test_an_event_sent_async_is_stored_answered_202_and_processed_after(gateway: Client) -> None:
    event = b.message("A01", b.patient(), b.encounter("ASYNC-1"))
    status, headers, body = await post_async(gateway, event)
    assert status == 202 and body["resourceType"] == "OperationOutcome"
    location = headers["Content-Location"]
    assert location == f"/fhir/outcome/{header(event)['id']}"
    code, response = await outcome(gateway, location)
    assert code == 200
    assert header(response)["response"]["code"] == "ok"
    assert header(response)["response"]["identifier"] == header(event)["id"]
    assert any("LOG_INNLAGT" in i["diagnostics"] for i in issues(response))
    assert [e["messageType"] for e in await gateway.feed(NURSING)] == ["LOG_INNLAGT"]


async def test_a_bad_event_is_refused_at_once_and_nothing_is_stored(gateway: Client) -> None:
    patient = b.patient()
    patient["identifier"][0]["value"] = "12034512344"  # check digits do not hold
    status, headers, body = await post_async(gateway, b.message("A01", patient, b.encounter("ASYNC-2")))
    assert status == 422 and "Content-Location" not in headers
    assert header(body)["response"]["code"] == "fatal-error"
    assert "12034512344" not in orjson.dumps(body).decode()
    assert await gateway.feed(NURSING) == []


async def test_the_same_id_again_gets_the_same_202_and_is_processed_once(gateway: Client) -> None:
    event = b.message("A01", b.patient(), b.encounter("ASYNC-3"))
    first = await post_async(gateway, event)
    again = await post_async(gateway, event)
    plain = await gateway.post_event(event)  # without Prefer: the same stored answer, still 202
    assert first[0] == again[0] == plain[0] == 202
    assert first[2] == again[2] == plain[1]
    assert (await outcome(gateway, first[1]["Content-Location"]))[0] == 200
    assert len(await gateway.feed(NURSING)) == 1


async def test_the_response_is_only_for_the_sender(gateway: Client) -> None:
    event = b.message("A01", b.patient(), b.encounter("ASYNC-4"))
    _, headers, _ = await post_async(gateway, event)
    location = headers["Content-Location"]
    await outcome(gateway, location)
    other = auth_headers(gateway.settings, client_id="other", scopes=[EVENTS_POST], her_ids=["8000002"])
    assert (await outcome(gateway, location, **other))[0] == 403
    own = auth_headers(gateway.settings, client_id="own", scopes=[EVENTS_POST], her_ids=[b.HOSPITAL_HER])
    assert (await outcome(gateway, location, **own))[0] == 200
    assert (await outcome(gateway, "/fhir/outcome/no-such-message", **own))[0] == 404


@pytest.mark.parametrize("workers", [0, 1], ids=["models-in-process", "models-in-worker"])
async def test_what_only_the_models_see_is_refused_at_the_outcome_as_it_is_at_once(
    tmp_path: Path, workers: int
) -> None:
    async with running(settings_for(tmp_path, validation_workers=workers)) as gw:
        patient = b.patient()
        patient["birthDate"] = "the fifth of May"  # no contract rule reads it; the R4B model does
        event = b.message("A01", patient, b.encounter("ASYNC-5"))
        status, headers, _ = await post_async(gw, event)
        assert status == 202
        code, response = await outcome(gw, headers["Content-Location"])
        assert code == 422
        assert header(response)["response"]["code"] == "fatal-error"
        assert "fifth" not in orjson.dumps(response).decode()
        # the same problems as the sender gets when it waits for the answer
        again = b.message("A01", patient, b.encounter("ASYNC-6"))
        sync_status, sync_body = await gw.post_event(again)
        assert sync_status == 422
        assert issues(response) == issues(sync_body)
        assert [i["expression"] for i in issues(response)] == [["Bundle.entry[2].resource.birthDate"]]
        assert await gw.feed(NURSING) == []
        _, listed = await gw.get_json("/inbound?status=rejected&channel=fhir")
        assert [e["id"] for e in listed["events"]] == [header(event)["id"]]


async def test_a_bundle_too_broken_to_read_is_refused_at_once_by_the_models(gateway: Client) -> None:
    event = b.message("A01", b.patient(), b.encounter("ASYNC-7"))
    header(event)["eventCoding"] = [header(event)["eventCoding"]]  # a list where one Coding goes
    status, headers, body = await post_async(gateway, event)
    assert status == 422 and "Content-Location" not in headers
    assert issues(body)[0]["expression"] == ["Bundle.entry[0].resource.eventCoding.root"]
    assert (await gateway.get_json("/inbound?channel=fhir"))[1]["events"] == []


async def test_a_failure_of_the_validation_worker_is_not_taken_for_the_models_verdict() -> None:
    inbox = Inbox(store=None, pipeline=None, max_backlog=1)  # type: ignore[arg-type]  # only the verdicts
    patient = b.patient()
    patient["birthDate"] = "the fifth of May"
    event = b.message("A01", patient, b.encounter("ASYNC-8"))
    failed: asyncio.Future[list[Problem]] = asyncio.get_running_loop().create_future()
    failed.set_result([Problem("$", "transient", "validation failed internally (MemoryError)")])
    inbox._verdicts[7] = failed
    assert [p.location for p in inbox._model_problems(7, event)] == ["Bundle.entry[2].resource.birthDate"]
    clean: asyncio.Future[list[Problem]] = asyncio.get_running_loop().create_future()
    clean.set_result([])
    inbox._verdicts[8] = clean  # the worker's verdict is taken as it is when it is one
    assert inbox._model_problems(8, event) == []
