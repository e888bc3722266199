"""Keyed pseudonyms for person identifiers, so logs and tables can correlate without the number."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, value: str) -> str:
        return "p-" + hmac.digest(self._key, value.encode(), hashlib.sha256).hex()[:20]

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> Pseudonymizer:
        """The key is made on first start and kept beside the database (mode 0600)."""
        path = data_dir / "pseudonym.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return cls(path.read_bytes())
