"""Keyed pseudonyms for person identifiers, so logs and tables can correlate without the number."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from gateway.keyfiles import create_once


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, value: str) -> str:
        return "p-" + hmac.digest(self._key, value.encode(), hashlib.sha256).hex()[:20]

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> Pseudonymizer:
        """The key is made on first start and kept beside the database (mode 0600), exactly once:
        instances sharing a data directory and starting together end up with the same key."""
        path = data_dir / "pseudonym.key"
        if not path.exists():
            create_once(path, secrets.token_bytes(32))
        return cls(path.read_bytes())
