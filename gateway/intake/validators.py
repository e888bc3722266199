"""Worker processes for FHIR model validation, fed over pipes.

Validation is the one costly CPU step of intake (about half of it); on a 2-core machine a
worker process runs it beside the event loop. Plain pipes, not a ProcessPoolExecutor: the
executor's feeder and manager threads compete with the event loop for the GIL on every call,
which cost more than the validation saved when measured (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys

import orjson

from adapters.fhir.validation_worker import HEADER
from adapters.problems import Problem


class ValidatorUnavailable(Exception):
    """A worker died mid-request: our trouble, answered as transient."""


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.waiting: collections.deque[asyncio.Future[list[Problem]]] = collections.deque()
        self.reader = asyncio.create_task(self._read_answers())

    async def _read_answers(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                head = await self.proc.stdout.readexactly(HEADER.size)
                data = await self.proc.stdout.readexactly(HEADER.unpack(head)[0])
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result([Problem(loc, kind, text) for loc, kind, text in orjson.loads(data)])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            while self.waiting:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_exception(ValidatorUnavailable("validation worker stopped"))

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and not self.reader.done()

    def submit(self, body: bytes) -> asyncio.Future[list[Problem]]:
        assert self.proc.stdin is not None
        future: asyncio.Future[list[Problem]] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.proc.stdin.write(HEADER.pack(len(body)) + body)
        return future

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self.reader


class ValidatorPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.workers: list[_Worker] = []

    async def start(self) -> None:
        self.workers = [await self._spawn() for _ in range(self.size)]

    async def _spawn(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adapters.fhir.validation_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return _Worker(proc)

    async def check(self, body: bytes) -> list[Problem]:
        for n, worker in enumerate(self.workers):
            if not worker.alive:  # a crashed worker is replaced before it is given new work
                self.workers[n] = await self._spawn()
        worker = min(self.workers, key=lambda w: len(w.waiting))
        future = worker.submit(body)
        assert worker.proc.stdin is not None
        await worker.proc.stdin.drain()
        return await future

    async def close(self) -> None:
        for worker in self.workers:
            await worker.stop()
        self.workers = []
