"""HL7 v2 acknowledged at storage (gateway/intake/inbox.py): the ACK once the message is durable,
processing after it, nothing lost on kill -9, and a bounded backlog."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from adapters.hl7v2.framing import frame, read_frame
from benchmarks._server import free_port, start_gateway, wait_until_up
from gateway.app import build_app
from gateway.auth.scopes import EVENTS_POST
from gateway.http.routes import INTAKE
from gateway.pipeline.processor import Pipeline
from gateway.rules.packs import LOCAL_EXAMPLE_PACK
from tests.conftest import Client, auth_headers, running, settings_for
from tests.hl7_builders import adt
from tests.hl7v2.test_mllp_intake import NURSING, Mllp, parse_ack
from tests.raw_store import rows


async def test_an_original_mode_sender_can_be_answered_at_storage(tmp_path: Path) -> None:
    """hl7_original_ack = stored: AA once stored; the rules' findings are in the outcome after."""
    settings = settings_for(tmp_path, hl7_original_ack="stored", rule_packs=str(LOCAL_EXAMPLE_PACK))
    async with running(settings) as gw:
        mllp = await Mllp.connect(gw)
        admitted = await mllp.send(adt("A01", "R1"))
        ready = await mllp.send(adt("A16", "R2", evn_time="20261104090000"))
        mllp.close()
        assert admitted["MSA"][1:3] == ["AA", "R1"] and ready["MSA"][1:3] == ["AA", "R2"]
        assert "ERR" not in ready  # stored, not processed yet: nothing to report
        outcome = await gw.hl7_outcome("R2")
        assert outcome["status"] == "processed"
        segments = outcome["acknowledgement"].split("\r")
        assert segments[1].startswith("MSA|AE|R2|accepted; ")
        assert any("|READY-FUNCTION^" in s for s in segments if s.startswith("ERR"))
        assert "Nordmann" not in outcome["acknowledgement"]


async def test_what_only_processing_finds_is_in_the_outcome_and_shown_to_operators(gateway: Client) -> None:
    """The accept acknowledgement checks what takes microseconds; a message that fails the full
    mapping after it was stored is rejected there, named by field, and produces nothing."""
    mllp = await Mllp.connect(gateway)
    accepted = await mllp.send(adt("A01", "C1", visit="", msh15="AL"))
    bad_fnr = await mllp.send(adt("A01", "C2", person="12034512344", msh15="AL"))
    mllp.close()
    assert accepted["MSA"][1:3] == ["CA", "C1"]
    assert bad_fnr["MSA"][1] == "CE" and bad_fnr["ERR"][2] == "PID^1^3"  # checked before storing
    outcome = await gateway.hl7_outcome("C1")
    assert outcome["status"] == "rejected"
    ack = parse_ack(outcome["acknowledgement"].encode())
    assert ack["MSA"][1:3] == ["AE", "C1"] and ack["ERR"][2] == "PV1^1^19"
    assert await gateway.feed(NURSING) == []
    # operators see it too, with the answer and without the message
    status, listed = await gateway.get_json("/inbound?status=rejected")
    assert status == 200 and [e["channel"] for e in listed["events"]] == ["hl7v2-mllp"]
    assert "PV1^1^19" in listed["events"][0]["answer"] and "Nordmann" not in str(listed)
    status, _ = await gateway.get_json("/inbound?status=lost")
    assert status == 400
    hospital = auth_headers(gateway.settings, client_id="h", scopes=[EVENTS_POST], her_ids=["8000001"])
    async with gateway.session.get(gateway.base + "/inbound", headers=hospital) as resp:
        assert resp.status == 403  # every sender's events: operators only


async def test_the_same_control_id_stored_twice_is_processed_once(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    first = await mllp.send(adt("A01", "D1", msh15="AL"))
    again = await mllp.send(adt("A01", "D1", msh15="AL"))
    mllp.close()
    assert first == again and first["MSA"][1] == "CA"
    assert (await gateway.hl7_outcome("D1"))["status"] == "processed"
    assert len(await gateway.feed(NURSING)) == 1


async def test_a_message_processing_cannot_handle_does_not_block_the_ones_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = Pipeline.process

    def failing(self, tx, event, seq, now, respond):  # type: ignore[no-untyped-def]
        if event.stay_key and event.stay_key.endswith("|POISON"):
            raise KeyError("a bug in processing")
        return process(self, tx, event, seq, now, respond)

    monkeypatch.setattr(Pipeline, "process", failing)
    async with running(settings_for(tmp_path)) as gw:
        mllp = await Mllp.connect(gw)
        assert (await mllp.send(adt("A01", "P1", visit="POISON", msh15="AL")))["MSA"][1] == "CA"
        assert (await mllp.send(adt("A01", "P2", visit="FINE", msh15="AL")))["MSA"][1] == "CA"
        mllp.close()
        failed = await gw.hl7_outcome("P1")
        assert failed["status"] == "failed"
        assert parse_ack(failed["acknowledgement"].encode())["MSA"][1] == "AR"
        assert "KeyError" not in failed["acknowledgement"]
        assert (await gw.hl7_outcome("P2"))["status"] == "processed"
        assert len(await gw.feed(NURSING)) == 1


async def test_the_outcome_is_only_for_the_senders_own_messages(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    await mllp.send(adt("A01", "O1", msh15="AL"))
    mllp.close()
    await gateway.hl7_outcome("O1")
    query = "/hl7v2/outcome?application=DIPS&facility=8000001&control_id=O1"
    other = auth_headers(gateway.settings, client_id="other", scopes=[EVENTS_POST], her_ids=["8000002"])
    async with gateway.session.get(gateway.base + query, headers=other) as resp:
        assert resp.status == 403
    own = auth_headers(gateway.settings, client_id="own", scopes=[EVENTS_POST], her_ids=["8000001"])
    async with gateway.session.get(gateway.base + query, headers=own) as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "processed"
    async with gateway.session.get(gateway.base + "/hl7v2/outcome?facility=8000001", headers=own) as resp:
        assert resp.status == 400


async def test_the_backlog_is_bounded_and_the_sender_waits(tmp_path: Path) -> None:
    """With room for 5 waiting messages, a burst over 8 connections never has more than 5 plus
    the ones being stored; the senders wait for their ACKs instead (and all get them)."""
    settings = settings_for(tmp_path, inbox_max_backlog=5)
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        inbox = server.app[INTAKE].inbox
        assert inbox is not None
        seen: list[int] = []

        async def watch() -> None:
            while True:
                seen.append(inbox.backlog)
                await asyncio.sleep(0)

        async def sender(lane: int) -> list[str]:
            reader, writer = await asyncio.open_connection("127.0.0.1", settings.mllp_port)
            codes = []
            for n in range(10):
                writer.write(frame(adt("A01", f"B{lane}-{n}", visit=f"B{lane}-{n}", msh15="AL").encode()))
                codes.append(parse_ack(await read_frame(reader, 1 << 20) or b"")["MSA"][1])
            writer.close()
            return codes

        watcher = asyncio.create_task(watch())
        results = await asyncio.gather(*(sender(lane) for lane in range(8)))
        watcher.cancel()
        assert all(codes == ["CA"] * 10 for codes in results)
        assert max(seen) >= 5  # the burst did fill the inbox ...
        assert max(seen) <= 5 + 8  # ... and no more than one message per connection went past it
        stored = rows(settings, "SELECT count(*) FROM inbound WHERE status = 'accepted'")[0][0]
        assert stored <= 5 + 8
    finally:
        await server.close()


@pytest.mark.slow
async def test_nothing_acknowledged_at_storage_is_lost_on_kill_9(tmp_path: Path) -> None:
    """A burst of accept-acknowledged messages, kill -9 while many wait in the inbox: after the
    restart every one that got CA is processed, exactly once."""
    settings = settings_for(tmp_path)
    port, mllp_port = free_port(), free_port()
    proc = start_gateway(settings.data_dir, port, mllp_port)
    wait_until_up(f"http://127.0.0.1:{port}", proc)
    acknowledged: set[str] = set()
    try:
        queue = [f"K{n}" for n in range(1500)]

        async def sender() -> None:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", mllp_port)
                while queue:
                    control_id = queue.pop()
                    writer.write(frame(adt("A01", control_id, visit=control_id, msh15="AL").encode()))
                    ack = await read_frame(reader, 1 << 20)
                    if ack is None:
                        return
                    assert parse_ack(ack)["MSA"][1] == "CA"
                    acknowledged.add(control_id)
            except (ConnectionError, OSError):
                return

        senders = [asyncio.create_task(sender()) for _ in range(8)]
        async with asyncio.timeout(60):
            while len(acknowledged) < 400:
                await asyncio.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.gather(*senders)
        proc.wait()
        waiting = rows(settings, "SELECT count(*) FROM inbound WHERE status = 'accepted'")[0][0]
        assert waiting > 0  # the kill did catch messages stored and not yet processed
        proc = start_gateway(settings.data_dir, port, mllp_port)
        wait_until_up(f"http://127.0.0.1:{port}", proc)
        async with asyncio.timeout(120):
            while rows(settings, "SELECT count(*) FROM inbound WHERE status = 'accepted'")[0][0]:
                await asyncio.sleep(0.1)
        stored = {
            status: count
            for status, count in rows(settings, "SELECT status, count(*) FROM inbound GROUP BY status")
        }
        assert stored == {"processed": stored["processed"]} and stored["processed"] >= len(acknowledged)
        # every stored A01 produced its LOG_INNLAGT once: one per stay, none twice
        notices = rows(
            settings,
            "SELECT count(*), count(DISTINCT stay_id) FROM outbound WHERE message_type = 'LOG_INNLAGT' "
            "AND recipient_her = ?",
            (NURSING,),
        )[0]
        assert notices[0] == notices[1] == stored["processed"]
    finally:
        proc.kill()
        proc.wait()
