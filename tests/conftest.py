"""Fixtures: a real gateway (aiohttp app on a real loopback socket, real SQLite file in tmp_path)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from benchmarks._server import free_port
from gateway.app import build_app
from gateway.auth.tokens import dev_token
from gateway.config import Settings, load_settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@dataclass
class Client:
    """A thin HTTP client for tests: posts events, reads the feed and messages."""

    base: str
    session: aiohttp.ClientSession
    settings: Settings

    async def post_event(self, bundle: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
        body = bundle if isinstance(bundle, bytes) else orjson.dumps(bundle)
        async with self.session.post(
            f"{self.base}/fhir/$process-message", data=body, headers={"Content-Type": "application/fhir+json"}
        ) as resp:
            return resp.status, orjson.loads(await resp.read())

    async def get_json(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path) as resp:
            return resp.status, orjson.loads(await resp.read())

    async def feed(self, her_id: str, after: int = 0) -> list[dict[str, Any]]:
        status, body = await self.get_json(f"/feed/{her_id}?after={after}&limit=500")
        assert status == 200
        return body["entries"]

    async def messages(self, her_id: str) -> list[dict[str, Any]]:
        out = []
        for entry in await self.feed(her_id):
            status, bundle = await self.get_json(entry["href"])
            assert status == 200
            out.append(bundle)
        return out


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        env={},
        overrides={
            "data_dir": tmp_path / "data",
            "validation_workers": 0,
            "mllp_port": free_port(),
            "auth_mode": "development",
            # tests of other behaviour post deliberately partial documents; the rules' own tests
            # (tests/rules/) switch the packs on
            "rule_packs": "",
            **overrides,
        },
    )


def auth_headers(settings: Settings, **claims: Any) -> dict[str, str]:
    """A development bearer token for this gateway: an administrator's unless claims say otherwise."""
    return {"Authorization": f"Bearer {dev_token(settings.data_dir, **claims)}"}


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Client]:
    """A gateway on a loopback port and a client carrying a development administrator's token."""
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(headers=auth_headers(settings)) as session:
        yield Client(str(server.make_url("")).rstrip("/"), session, settings)
    await server.close()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Client]:
    async with running(settings_for(tmp_path)) as client:
        yield client


def issues(response: dict[str, Any]) -> list[dict[str, Any]]:
    return response["entry"][1]["resource"]["issue"]


def response_code(response: dict[str, Any]) -> str:
    return response["entry"][0]["resource"]["response"]["code"]


def header(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


def ext(resource: dict[str, Any], url: str) -> Any:
    for e in resource.get("extension") or ():
        if e["url"] == url:
            return next(v for k, v in e.items() if k.startswith("value"))
    return None


@pytest.fixture
async def fast_retry_gateway(tmp_path: Path) -> AsyncIterator[Client]:
    async with running(settings_for(tmp_path, retry_schedule="0.05,0.05,0.05")) as client:
        yield client
