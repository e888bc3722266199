"""A real PostgreSQL server for the tests: a throwaway cluster on loopback, one database per test.

Either GATEWAY_TEST_DATABASE_URL names a server to use (a superuser's URL), or the Debian server
binaries (package postgresql; `.ci/run` installs it) start a cluster in a temporary folder for the
session. The cluster runs with fsync off: the tests kill gateways, never the database server, and
durability of PostgreSQL itself is PostgreSQL's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from benchmarks._server import free_port

TEMPLATE = "gateway_template"
_counter = itertools.count(1)


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    """initdb and postgres refuse to run as root: as root, they run as the postgres user."""
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


@contextlib.contextmanager
def cluster(*, durable: bool = False) -> Iterator[str]:
    """A superuser URL of a server for this test session (durable: PostgreSQL's own defaults,
    fsync and synchronous commit on, for benchmarks)."""
    if url := os.environ.get("GATEWAY_TEST_DATABASE_URL"):
        yield url
        return
    bindir = server_binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
    owner = None
    if os.geteuid() == 0:
        owner = "postgres"
        pwd.getpwnam(owner)  # KeyError: the package's user is missing
    folder = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
    data = folder / "data"
    if owner:
        shutil.chown(folder, owner)
    port = free_port()
    subprocess.run(
        _as_owner(
            [str(bindir / "initdb"), "-D", str(data), "-U", "gateway", "--auth=trust", "-E", "UTF8"], owner
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        _as_owner(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(folder / "log"),
                "start",
            ],
            owner,
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgresql://gateway@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner),
            stdout=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


async def _prepare_template(server: str) -> None:
    """A database with the schema already migrated: each test's database is a copy of it."""
    from gateway.store.postgres import migrate, with_database

    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(with_database(server, TEMPLATE))
    try:
        await migrate(conn)
    finally:
        await conn.close()


def prepare(server: str) -> None:
    asyncio.run(_prepare_template(server))


async def _create(server: str, name: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
    finally:
        await conn.close()


def new_database(server: str) -> str:
    """A fresh database for one test (its own tables, nothing shared with other tests)."""
    name = f"gateway_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(_create(server, name))  # from a synchronous fixture, outside the test's own loop
    from gateway.store.postgres import with_database

    return with_database(server, name)
