"""Per-client rate limits: a token bucket per client id (refilled continuously, `burst` deep)."""

from __future__ import annotations

import math
import time


class RateLimiter:
    def __init__(self, per_second: float, burst: int, max_clients: int = 10_000) -> None:
        self.per_second, self.burst, self.max_clients = per_second, burst, max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may go ahead; otherwise seconds until it could (for Retry-After)."""
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
        if tokens >= 1:
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._buckets.clear()  # bounded memory; a full bucket is what a forgotten client gets anyway
            self._buckets[client] = (tokens - 1, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1 - tokens) / self.per_second


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
