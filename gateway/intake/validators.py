"""FHIR model validation in worker processes (gateway/workers.py): validation is the one costly
CPU step of intake (about half of it); on a 2-core machine a worker runs it beside the event loop."""

from __future__ import annotations

import orjson

from adapters.problems import Problem
from gateway.workers import WorkerPool


def _problems(data: bytes) -> list[Problem]:
    return [Problem(loc, kind, text) for loc, kind, text in orjson.loads(data)]


class ValidatorPool(WorkerPool[list[Problem]]):
    def __init__(self, size: int) -> None:
        super().__init__(size, "gateway.intake.validation_worker", _problems)

    async def check(self, body: bytes, contract: bool = True) -> list[Problem]:
        """The Bundle's problems: R4B structure, then (unless `contract` is False) the contract."""
        return await self.ask((b"c" if contract else b"s") + body)
