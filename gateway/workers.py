"""Worker processes fed over pipes: the CPU-heavy steps (FHIR model validation on intake, KITH XML
rendering on delivery) run on the second core while the event loop serves sockets and commits.

Plain pipes, not a ProcessPoolExecutor: the executor's feeder and manager threads compete with the
event loop for the GIL on every call, which cost more than the work saved when measured
(docs/PERFORMANCE.md). Protocol, both ways: a 4-byte big-endian length, then the bytes; a worker
answers requests one at a time, in order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import struct
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
HEADER = struct.Struct(">I")


class WorkerUnavailable(Exception):
    """A worker died mid-request: our trouble, not the request's."""


class _Worker(Generic[T]):
    def __init__(self, proc: asyncio.subprocess.Process, decode: Callable[[bytes], T]) -> None:
        self.proc = proc
        self.decode = decode
        self.waiting: collections.deque[asyncio.Future[T]] = collections.deque()
        self.reader = asyncio.create_task(self._read_answers())

    async def _read_answers(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                head = await self.proc.stdout.readexactly(HEADER.size)
                data = await self.proc.stdout.readexactly(HEADER.unpack(head)[0])
                future = self.waiting.popleft()
                if not future.done():
                    future.set_result(self.decode(data))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            while self.waiting:
                future = self.waiting.popleft()
                if not future.done():
                    future.set_exception(WorkerUnavailable("worker process stopped"))

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and not self.reader.done()

    def submit(self, body: bytes) -> asyncio.Future[T]:
        assert self.proc.stdin is not None
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
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


class WorkerPool(Generic[T]):
    """`size` processes running `python -m module *args`; a request goes to the least busy one."""

    def __init__(
        self, size: int, module: str, decode: Callable[[bytes], T], args: tuple[str, ...] = ()
    ) -> None:
        self.size = size
        self.module = module
        self.decode = decode
        self.args = args
        self.workers: list[_Worker[T]] = []

    async def start(self) -> None:
        self.workers = [await self._spawn() for _ in range(self.size)]

    async def _spawn(self) -> _Worker[T]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return _Worker(proc, self.decode)

    async def ask(self, body: bytes) -> T:
        for n, worker in enumerate(self.workers):
            if not worker.alive:  # a crashed worker is replaced before it is given new work
                self.workers[n] = await self._spawn()
        worker = min(self.workers, key=lambda w: len(w.waiting))
        future = worker.submit(body)
        assert worker.proc.stdin is not None
        try:
            await worker.proc.stdin.drain()
        except ConnectionError:  # the pipe broke under the request: the worker died
            future.cancel()
            raise WorkerUnavailable("worker process stopped") from None
        return await future

    async def close(self) -> None:
        for worker in self.workers:
            await worker.stop()
        self.workers = []


def serve(answer: Callable[[bytes], bytes]) -> None:
    """A worker's main loop: each request's bytes in, `answer`'s bytes out, until stdin closes."""
    read, write = sys.stdin.buffer.read, sys.stdout.buffer
    while True:
        head = read(HEADER.size)
        if len(head) < HEADER.size:
            return
        out = answer(read(HEADER.unpack(head)[0]))
        write.write(HEADER.pack(len(out)) + out)
        write.flush()
