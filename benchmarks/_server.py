"""Start a real `gateway serve` process on a temporary data dir, for benchmarks."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that have exited (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Gateway:
    base: str
    pid: int
    mllp_port: int
    data_dir: Path

    @functools.cached_property
    def auth(self) -> dict[str, str]:
        """Headers with a development administrator's token for this gateway: one token, as a
        real client keeps its token (a new one per request filled the gateway's token cache)."""
        return dev_auth(self.data_dir)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def inbox(self) -> int:
        """Events acknowledged at storage and not processed yet (the `gateway_inbox` metric)."""
        request = urllib.request.Request(self.base + "/metrics", headers=self.auth)
        with urllib.request.urlopen(request, timeout=10) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("gateway_inbox "):
                    return int(float(line.split()[1]))
        raise RuntimeError("no gateway_inbox in /metrics")

    def wait_inbox_empty(self) -> float:
        """Seconds until every event acknowledged at storage is processed."""
        start = time.perf_counter()
        while self.inbox():
            time.sleep(0.05)
        return time.perf_counter() - start


def dev_auth(data_dir: Path) -> dict[str, str]:
    from gateway.auth.tokens import dev_token

    return {"Authorization": f"Bearer {dev_token(data_dir)}"}


# development authentication (its own issuer, key in the data dir) and no rate limit: the
# harness measures the gateway, not a limit meant for misbehaving clients
DEV_ENV = {"GATEWAY_AUTH_MODE": "development", "GATEWAY_RATE_LIMIT_PER_SECOND": "0"}


def start_gateway(
    data_dir: Path, port: int, mllp_port: int, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`gateway serve` as a child process; the caller waits for it with wait_until_up."""
    cmd = [
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--port",
        str(port),
        "--mllp-port",
        str(mllp_port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        *extra,
    ]
    return subprocess.Popen(cmd, env={**os.environ, **DEV_ENV, **(env or {})}, stdout=subprocess.DEVNULL)


def wait_until_up(base: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("gateway did not start") from None
            time.sleep(0.1)


@contextlib.contextmanager
def running_gateway(
    *extra: str, env: dict[str, str] | None = None, data_dir: Path | None = None
) -> Iterator[Gateway]:
    """A gateway process on a temporary data directory, or on `data_dir` (instances sharing one)."""
    with tempfile.TemporaryDirectory() as tmp:
        port, mllp = free_port(), free_port()
        data_dir = data_dir or Path(tmp) / "data"
        proc = start_gateway(data_dir, port, mllp, *extra, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, proc)
            yield Gateway(base, proc.pid, mllp, data_dir)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()  # never leave a hung gateway holding the caller's pipes
                raise
