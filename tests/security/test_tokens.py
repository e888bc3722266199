"""Bearer tokens in jwt mode against a real JWKS server: RS256 and ES256 accepted, everything
else refused with 401, keys rotated without a restart, and unknown kids cannot make us hammer
the issuer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.app import build_app
from gateway.auth.keys import RemoteKeys
from gateway.config import ConfigError, check_security
from tests import builders as b
from tests.conftest import settings_for

ISSUER, AUDIENCE = "https://helseid-sts.test.example", "gateway-api"


class Issuer:
    """A stand-in for HelseID: signs tokens and publishes its JWKS over HTTP on loopback."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {
            "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
        }
        self.fetches = 0

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
            out.append({**orjson.loads(algo.to_jwk(key.public_key())), "kid": kid, "use": "sig"})
        return {"keys": out}

    def token(self, kid: str = "rsa-1", **claims: Any) -> str:
        key = self.keys[kid]
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": now + 300,
            "iat": now,
            "client_id": "epj-si",
            "scope": "gateway:events.post gateway:messages.read",
            "her_id": "8000001",
            **claims,
        }
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, alg, headers={"kid": kid})

    async def serve(self) -> TestServer:
        async def jwks(_: web.Request) -> web.Response:
            self.fetches += 1
            return web.json_response(self.jwks())

        app = web.Application()
        app.router.add_get("/jwks", jwks)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        return server


@pytest.fixture
async def issuer() -> AsyncIterator[tuple[Issuer, str]]:
    iss = Issuer()
    server = await iss.serve()
    yield iss, str(server.make_url("/jwks"))
    await server.close()


@pytest.fixture
async def jwt_gateway(tmp_path: Path, issuer: tuple[Issuer, str]) -> AsyncIterator[tuple[str, Issuer]]:
    iss, url = issuer
    settings = settings_for(
        tmp_path, auth_mode="jwt", auth_issuer=ISSUER, auth_audience=AUDIENCE, auth_jwks_url=url
    )
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), iss
    await server.close()


async def _post(base: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/fhir+json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = orjson.dumps(b.message("A01", b.patient(), b.encounter()))
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + "/fhir/$process-message", data=body, headers=headers) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


async def test_rs256_and_es256_tokens_from_the_configured_issuer_are_accepted(
    jwt_gateway: tuple[str, Issuer],
) -> None:
    """A token signed by either of the issuer's published keys (RSA or EC) lets the hospital post."""
    base, iss = jwt_gateway
    assert (await _post(base, iss.token("rsa-1")))[0] == 200
    assert (await _post(base, iss.token("ec-1")))[0] == 200


@pytest.mark.parametrize(
    "why",
    ["none", "garbage", "expired", "wrong-audience", "wrong-issuer", "foreign-key", "alg-none", "hs256"],
)
async def test_bad_tokens_are_refused_with_401_and_a_bearer_challenge(
    jwt_gateway: tuple[str, Issuer], why: str
) -> None:
    """Missing, malformed, expired, misaddressed, forged, unsigned or HMAC tokens all get 401."""
    base, iss = jwt_gateway
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bare = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300}
    token = {
        "none": None,
        "garbage": "not.a.token",
        "expired": iss.token(exp=int(time.time()) - 3600),
        "wrong-audience": iss.token(aud="another-api"),
        "wrong-issuer": iss.token(iss="https://evil.example"),
        "foreign-key": jwt.encode(bare, stranger, "RS256", {"kid": "rsa-1"}),
        "alg-none": jwt.encode(bare, None, "none"),
        "hs256": jwt.encode(bare, "k" * 32, "HS256"),
    }[why]
    status, headers, body = await _post(base, token)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert orjson.loads(body)["title"] == "Unauthorized"


async def test_a_token_without_the_scope_is_refused_with_403(jwt_gateway: tuple[str, Issuer]) -> None:
    """A valid token that lacks gateway:events.post cannot post events."""
    base, iss = jwt_gateway
    status, _, body = await _post(base, iss.token(scope="gateway:messages.read"))
    assert status == 403
    assert orjson.loads(body)["title"] == "Forbidden"


async def test_a_rotated_key_is_fetched_once_when_a_token_names_it(jwt_gateway: tuple[str, Issuer]) -> None:
    """The issuer adds a key: the first token naming it makes the gateway refetch the JWKS once."""
    base, iss = jwt_gateway
    assert (await _post(base, iss.token("rsa-1")))[0] == 200
    fetched = iss.fetches
    iss.keys["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert (await _post(base, iss.token("rsa-2")))[0] == 200
    assert iss.fetches == fetched + 1
    assert (await _post(base, iss.token("rsa-2")))[0] == 200
    assert iss.fetches == fetched + 1  # cached now


async def test_unknown_kids_refetch_at_most_once_per_interval(issuer: tuple[Issuer, str]) -> None:
    """Tokens with made-up kids cause at most one JWKS refetch per interval."""
    iss, url = issuer
    keys = RemoteKeys(url, min_refetch=60)
    await keys.key("rsa-1")
    for n in range(20):
        with pytest.raises(Exception):  # noqa: B017 - UnknownKey, whatever its wording
            await keys.key(f"made-up-{n}")
    assert iss.fetches == 2  # the first fetch, and one refetch for all twenty unknown kids


def test_jwt_mode_without_issuer_audience_and_jwks_refuses_to_start(tmp_path: Path) -> None:
    """Nothing insecure by default: the default mode (jwt) without its settings is a configuration error."""
    with pytest.raises(ConfigError, match="auth_issuer"):
        check_security(settings_for(tmp_path, auth_mode="jwt"))
    with pytest.raises(ConfigError):
        build_app(settings_for(tmp_path, auth_mode="jwt"))
    with pytest.raises(ConfigError, match="https"):
        check_security(
            settings_for(
                tmp_path,
                auth_mode="jwt",
                auth_issuer=ISSUER,
                auth_audience=AUDIENCE,
                auth_jwks_url="http://issuer.example/jwks",
            )
        )


async def test_claim_names_are_configurable_helseid_style(tmp_path: Path, issuer: tuple[Issuer, str]) -> None:
    """With HelseID's claim names configured, the organisation number in orgnr_parent decides the sender."""
    iss, url = issuer
    orgnr = "helseid://claims/client/claims/orgnr_parent"
    settings = settings_for(
        tmp_path,
        auth_mode="jwt",
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_jwks_url=url,
        auth_org_number_claim=orgnr,
        auth_client_id_claim="client_id",
    )
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        si = iss.token("ec-1", her_id=None, **{orgnr: "983971768"})  # Sykehuset Innlandet HF
        ous = iss.token("ec-1", her_id=None, **{orgnr: "993467049"})  # Oslo universitetssykehus HF
        assert (await _post(base, si))[0] == 200
        assert (await _post(base, ous))[0] == 403  # the event's sender is Sykehuset Innlandet
    finally:
        await server.close()
