"""Encryption at rest of the stored patient data (inbound bodies, stay state and event resources,
outbound payloads, receipts): AES-256-GCM, a fresh 96-bit nonce per value, and associated data
naming the table, column and row, so a value copied into another row does not decrypt.

Stored form: MAGIC, one byte key-id length, the key id, the nonce, ciphertext+tag. Values
without MAGIC are plaintext written before encryption was switched on and are read as they are,
so turning encryption on needs no migration; turning it off again needs the keys to read old rows.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.keyfiles import create_once

MAGIC = b"\x00GWE1"  # no plaintext we store (JSON, HL7, XML) starts with a NUL byte
NONCE = 12


class CipherError(Exception):
    """A stored value cannot be decrypted: unknown key id, wrong key, or a value moved or altered."""


class PayloadCipher:
    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError("the current key id must be among the keys")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self._current = current
        self._prefix = MAGIC + bytes([len(current)]) + current.encode()

    @property
    def current(self) -> str:
        return self._current

    def seal(self, data: bytes, row: str) -> bytes:
        nonce = os.urandom(NONCE)
        return self._prefix + nonce + self._aead[self._current].encrypt(nonce, data, row.encode())

    def open(self, blob: bytes | str, row: str) -> bytes:
        blob = blob.encode() if isinstance(blob, str) else bytes(blob)
        if not blob.startswith(MAGIC):
            return blob  # written before encryption was on
        n = len(MAGIC)
        kid_len = blob[n]
        kid = blob[n + 1 : n + 1 + kid_len].decode()
        nonce = blob[n + 1 + kid_len : n + 1 + kid_len + NONCE]
        aead = self._aead.get(kid)
        if aead is None:
            raise CipherError(f"no key with id {kid!r} is configured")
        try:
            return aead.decrypt(nonce, blob[n + 1 + kid_len + NONCE :], row.encode())
        except InvalidTag:
            raise CipherError("stored value fails authentication (wrong key, or moved/altered)") from None


class NoCipher:
    """Encryption off: values are stored as they are; an encrypted one cannot be read without keys."""

    current = None

    def seal(self, data: bytes, row: str) -> bytes:
        return data

    def open(self, blob: bytes | str, row: str) -> bytes:
        blob = blob.encode() if isinstance(blob, str) else bytes(blob)
        if blob.startswith(MAGIC):
            raise CipherError("the store holds encrypted values but no payload key is configured")
        return blob


Cipher = PayloadCipher | NoCipher


def load_keys(path: Path) -> PayloadCipher:
    """A key file: one `key-id base64(32 bytes)` per line; the first key encrypts, all decrypt."""
    keys: dict[str, bytes] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            kid, encoded = line.split()
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ValueError(f"{path.name} line {number}: expected 'key-id base64-key'") from None
        if len(key) != 32 or not 0 < len(kid.encode()) < 256:
            raise ValueError(f"{path.name} line {number}: keys are 32 bytes (AES-256), ids 1-255 bytes")
        keys.setdefault(kid, key)
    if not keys:
        raise ValueError(f"{path.name}: no keys")
    return PayloadCipher(keys, next(iter(keys)))


def new_key_line(kid: str) -> str:
    return f"{kid} {base64.b64encode(secrets.token_bytes(32)).decode()}"


def dev_key_file(data_dir: Path) -> Path:
    """The development payload key, made on first start beside the database (mode 0600)."""
    path = data_dir / "payload.keys"
    if not path.exists():
        create_once(path, (new_key_line("dev-1") + "\n").encode())
    return path
