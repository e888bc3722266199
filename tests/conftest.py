"""Fixtures: a real gateway (aiohttp app on a real loopback socket) on a real store.

Every test that touches the store runs twice, on SQLite (a file in tmp_path) and on PostgreSQL
(a database of its own on a throwaway server, tests/pg_server.py): `pytest_generate_tests`
finds them by what they use (STORE_USERS, STORE_FIXTURES) and `settings_for` and processes
started by the tests (GATEWAY_DATABASE_URL) pick up the backend of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import cache
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
BACKENDS = ("sqlite", "postgresql")
# what a test module uses when its tests touch the store; and fixtures that give a running gateway
STORE_USERS = ("settings_for", "start_gateway", "build_app", "build_parts", "local_gateway", "open_store")
STORE_FIXTURES = {"gateway", "fast_retry_gateway", "world", "database_url"}
_database_url = ""  # the PostgreSQL database of the running test; "" on SQLite


@cache
def _module_uses_store(path: str) -> bool:
    text = Path(path).read_text(encoding="utf-8")
    return any(name in text for name in STORE_USERS)


def touches_store(metafunc: pytest.Metafunc) -> bool:
    return bool(STORE_FIXTURES & set(metafunc.fixturenames)) or _module_uses_store(
        inspect.getfile(metafunc.module)
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("postgresql_only"):  # several instances, one database
        metafunc.parametrize("store_backend", ["postgresql"], indirect=True)
    elif metafunc.definition.get_closest_marker("sqlite_only"):  # a property of the SQLite engine
        metafunc.parametrize("store_backend", ["sqlite"], indirect=True)
    elif touches_store(metafunc):
        metafunc.parametrize("store_backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    from tests import pg_server

    try:
        with pg_server.cluster() as url:
            pg_server.prepare(url)
            yield url
    except (RuntimeError, OSError, KeyError) as exc:
        if os.environ.get("GATEWAY_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")


@pytest.fixture(autouse=True)
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store of this test run: sqlite, or postgresql with a fresh database of the test's own."""
    global _database_url
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield backend
        return
    from tests import pg_server

    _database_url = pg_server.new_database(request.getfixturevalue("pg_server"))
    saved = os.environ.get("GATEWAY_DATABASE_URL")
    os.environ["GATEWAY_DATABASE_URL"] = _database_url  # for gateways the test starts as processes
    try:
        yield backend
    finally:
        _database_url = ""
        if saved is None:
            os.environ.pop("GATEWAY_DATABASE_URL", None)
        else:
            os.environ["GATEWAY_DATABASE_URL"] = saved


@pytest.fixture
def database_url(store_backend: str) -> str:
    """This test's PostgreSQL database URL, or "" on SQLite."""
    return _database_url


def current_database_url() -> str:
    return _database_url


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

    async def hl7_outcome(
        self, control_id: str, application: str = "DIPS", facility: str = "8000001"
    ) -> dict[str, Any]:
        """What became of an HL7 v2 message, once processed (one acknowledged at storage is
        processed by the inbox after its ACK)."""
        query = f"application={application}&facility={facility}&control_id={control_id}"
        async with asyncio.timeout(10):
            while True:
                status, body = await self.get_json(f"/hl7v2/outcome?{query}")
                if status != 200 or body["status"] != "accepted":
                    return {"http": status, **body}
                await asyncio.sleep(0.01)

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
            "render_workers": 0,
            "signing_workers": 0,
            "mllp_port": free_port(),
            "auth_mode": "development",
            # tests of other behaviour post deliberately partial documents; the rules' own tests
            # (tests/rules/) switch the packs on
            "rule_packs": "",
            "database_url": _database_url,
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
    try:
        async with aiohttp.ClientSession(headers=auth_headers(settings)) as session:
            yield Client(str(server.make_url("")).rstrip("/"), session, settings)
    finally:  # a failed assertion must not leave the gateway running into the next test
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
