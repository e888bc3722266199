"""KITH XML rendered in a worker process: the same bytes and verdicts as on the event loop, the
same refusal of a rendering that fails validation, and deliveries go on when the worker dies."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.config import KITH_SCHEMAS
from gateway.render.kith_output import RenderPool, render_kith
from tests import builders as b
from tests.conftest import Client
from tests.kith.scenarios import NURSING, event
from tests.kith.test_kith_service import SCHEMAS, T_ADMIT, _gateway, _push_one, strict_schemas
from tests.worker_procs import worker_pids


@pytest.fixture
async def worker_gateway(tmp_path: Path) -> AsyncIterator[Client]:
    async for client in _gateway(tmp_path / "worker", render_workers=1):
        yield client


async def test_the_worker_renders_byte_for_byte_what_the_loop_renders(gateway: Client) -> None:
    await gateway.post_event(event("A01", T_ADMIT))
    message_id = next(e["messageId"] for e in await gateway.feed(NURSING))
    async with gateway.session.get(f"{gateway.base}/messages/{message_id}") as resp:
        payload = await resp.read()
    pool = RenderPool(1, KITH_SCHEMAS)
    await pool.start()
    try:
        for body in (payload, b'{"resourceType": "Bundle", "entry": []}'):
            made = await pool.ask(body)
            assert made == render_kith(body, SCHEMAS)
        assert made[0] == "invalid"  # the second: not a message the renderer can read
        assert (await pool.ask(payload))[0] == "valid"
    finally:
        await pool.close()


async def test_a_kith_subscriber_gets_valid_signed_xml_rendered_by_the_worker(worker_gateway: Client) -> None:
    delivery, received = await _push_one(worker_gateway)
    assert delivery["status"] == "delivered"
    content_type, body = received[0]
    assert content_type.startswith("application/xml")
    assert SCHEMAS.errors(etree.fromstring(body)) == []


async def test_a_rendering_that_fails_validation_in_the_worker_is_never_pushed(tmp_path: Path) -> None:
    folder = strict_schemas(tmp_path)
    async for gw in _gateway(tmp_path / "strict", kith_schema_dir=folder, render_workers=1):
        delivery, received = await _push_one(gw)
        assert delivery["status"] == "dead"
        assert "TilleggsopplysningPasient" in delivery["lastError"]
        assert b.FNR_HAMAR not in delivery["lastError"]
        assert received == []


def _render_workers() -> list[int]:
    return worker_pids("gateway.render.kith_worker")


async def test_a_killed_render_worker_does_not_stop_delivery(worker_gateway: Client) -> None:
    (pid,) = _render_workers()
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)  # its pipe closes: the pool sees it gone
    delivery, received = await _push_one(worker_gateway)
    assert delivery["status"] == "delivered"
    assert SCHEMAS.errors(etree.fromstring(received[0][1])) == []
    assert pid not in _render_workers()
