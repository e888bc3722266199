"""Long-polling for pull subscribers: a request with nothing new waits for the next commit."""

from __future__ import annotations

import asyncio
import contextlib


class NewMessages:
    """Wakes every waiting pull request when a commit may have produced messages."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()  # later waiters wait for the next commit

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
