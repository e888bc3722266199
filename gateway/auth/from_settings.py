"""Authentication built from Settings: the development issuer or a real one."""

from __future__ import annotations

import orjson
import structlog
from aiohttp import web

from gateway.auth.keys import DEV_AUDIENCE, DEV_ISSUER, RemoteKeys, StaticKeys, dev_private_key, public_jwk
from gateway.auth.tokens import ClaimNames, Verifier
from gateway.config import Settings, check_security
from gateway.directory.embedded import EmbeddedDirectory

log = structlog.get_logger("auth")


def claim_names(settings: Settings) -> ClaimNames:
    return ClaimNames(
        settings.auth_client_id_claim,
        settings.auth_her_id_claim,
        settings.auth_org_number_claim,
        settings.auth_scope_claim,
    )


def dev_jwks(settings: Settings) -> dict[str, object]:
    return {"keys": [public_jwk(dev_private_key(settings.data_dir))]}


def build_verifier(settings: Settings, directory: EmbeddedDirectory) -> Verifier:
    check_security(settings)
    if settings.auth_mode == "development":
        log.warning(
            "development_auth_mode",
            note="tokens from the gateway's own development issuer are accepted; never use in production",
            issuer=DEV_ISSUER,
        )
        return Verifier(
            StaticKeys(dev_jwks(settings)),
            DEV_ISSUER,
            DEV_AUDIENCE,
            claim_names(settings),
            directory.owned_her_ids,
        )
    return Verifier(
        RemoteKeys(settings.auth_jwks_url),
        settings.auth_issuer,
        settings.auth_audience,
        claim_names(settings),
        directory.owned_her_ids,
    )


def add_dev_routes(app: web.Application, settings: Settings) -> None:
    """The development issuer's JWKS, so other local services can verify its tokens too."""
    if settings.auth_mode != "development":
        return
    body = orjson.dumps(dev_jwks(settings))

    async def jwks(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/jwk-set+json")

    app.router.add_get("/.well-known/jwks.json", jwks)
