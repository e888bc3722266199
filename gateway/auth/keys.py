"""Signing keys for tokens: the JWKS of a real issuer (fetched, cached, refetched on rotation) or
the development issuer's own key pair, made on first start in the data directory."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway.keyfiles import create_once

log = structlog.get_logger("auth")

DEV_ISSUER = "urn:gateway:development"
DEV_AUDIENCE = "gateway"
DEV_KEY_FILE = "dev-issuer.key"


class UnknownKey(Exception):
    """The token names a key the issuer does not publish (or the JWKS could not be had)."""


class Jwks:
    """Keys by kid from a JWKS document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.keys: dict[str | None, jwt.PyJWK] = {}
        for entry in document.get("keys") or []:
            if entry.get("use", "sig") != "sig":
                continue
            try:
                self.keys[entry.get("kid")] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type we do not use (e.g. an encryption key) is not an error

    def get(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)


class StaticKeys:
    """A fixed JWKS (the development issuer's)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._jwks = Jwks(document)

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if (found := self._jwks.get(kid)) is None:
            raise UnknownKey
        return found


class RemoteKeys:
    """The issuer's JWKS over HTTPS, fetched without blocking the event loop and cached.

    A token naming a kid we do not hold triggers a refetch (the issuer rotated its keys), but at
    most one per `min_refetch` seconds, so tokens with made-up kids cannot make us hammer the issuer.
    """

    def __init__(self, url: str, *, ttl: float = 3600.0, min_refetch: float = 30.0, timeout: float = 10.0):
        self.url, self.ttl, self.min_refetch, self.timeout = url, ttl, min_refetch, timeout
        self._jwks = Jwks({})
        self._fetched_at = float("-inf")
        self._kid_refetch_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        stale = time.monotonic() - self._fetched_at > self.ttl
        if stale or self._jwks.get(kid) is None:
            await self._refresh(stale)
        if (found := self._jwks.get(kid)) is None:
            raise UnknownKey
        return found

    async def _refresh(self, stale: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if not stale:
                # an unknown kid: refetch, but at most once per interval whatever the tokens say
                if now - self._kid_refetch_at < self.min_refetch:
                    return
                self._kid_refetch_at = now
            elif now - self._fetched_at <= self.ttl:
                return  # another request refreshed it while this one waited for the lock
            self._fetched_at = now
            self.fetches += 1
            try:
                timeout = aiohttp.ClientTimeout(total=self.timeout)
                async with (
                    aiohttp.ClientSession(timeout=timeout) as session,
                    session.get(self.url, allow_redirects=False) as resp,
                ):
                    resp.raise_for_status()
                    document = orjson.loads(await resp.content.read(1024 * 1024))
                self._jwks = Jwks(document)
                log.info("jwks_fetched", keys=len(self._jwks.keys))
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, AttributeError) as exc:
                log.warning("jwks_fetch_failed", error=type(exc).__name__)


def dev_private_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The development issuer's P-256 key, made on first start beside the database (mode 0600)."""
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        create_once(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an EC private key")
    return key


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The public half as a JWK, kid = its RFC 7638 thumbprint."""
    jwk: dict[str, Any] = orjson.loads(ECAlgorithm.to_jwk(key.public_key()))
    thumb = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    digest = jwt.utils.base64url_encode(
        hashlib.sha256(orjson.dumps(thumb, option=orjson.OPT_SORT_KEYS)).digest()
    ).decode()
    return {**jwk, "kid": digest, "use": "sig", "alg": "ES256"}
