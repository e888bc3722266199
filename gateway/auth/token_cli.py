"""`gateway token`: mint a development access token (development mode only accepts these)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.auth.scopes import ADMIN, ALL
from gateway.auth.tokens import mint_dev_token
from gateway.config import ConfigError, load_settings


def _mint(args: argparse.Namespace) -> int:
    from gateway.auth.from_settings import claim_names
    from gateway.auth.keys import dev_private_key

    try:
        settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    scopes = [s for given in args.scope or [] for s in given.replace(",", " ").split()]
    scopes = scopes or [s for s in ALL if s != ADMIN]
    if unknown := [s for s in scopes if s not in ALL]:
        print(f"gateway: unknown scope(s) {unknown}; known: {list(ALL)}", file=sys.stderr)
        return 2
    if not (args.org or args.org_number or ADMIN in scopes):
        print(
            "gateway: name the organisation (--org HER-id or --org-number), or ask for gateway:admin",
            file=sys.stderr,
        )
        return 2
    if settings.auth_mode != "development" and settings.auth_issuer:
        print(
            f"gateway: note: this gateway trusts {settings.auth_issuer}, not development tokens",
            file=sys.stderr,
        )
    print(
        mint_dev_token(
            dev_private_key(settings.data_dir),
            client_id=args.client_id,
            scopes=scopes,
            her_ids=args.org or [],
            org_numbers=args.org_number or [],
            ttl=args.ttl,
            claims=claim_names(settings),
        )
    )
    return 0


def _payload_key(args: argparse.Namespace) -> int:
    from gateway.store.cipher import new_key_line

    print(new_key_line(args.id))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    k = sub.add_parser("payload-key", help="print a new line for the payload key file (encryption at rest)")
    k.add_argument("--id", required=True, help="the new key's id (e.g. 2026-11)")
    k.set_defaults(func=_payload_key)

    p = sub.add_parser("token", help="mint a development access token (auth_mode = development)")
    p.add_argument("--org", action="append", help="HER-id of the caller's organisation (repeatable)")
    p.add_argument("--org-number", action="append", help="organisation number (repeatable)")
    p.add_argument(
        "--scope", action="append", help=f"scope(s), space or comma separated (default: all but {ADMIN})"
    )
    p.add_argument("--client-id", default="local-client", help="the client id the token names")
    p.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    p.add_argument("--data-dir", type=Path, help="the gateway's data dir, where the issuer key is (./data)")
    p.add_argument("--config", type=Path, help="TOML config file (also GATEWAY_CONFIG)")
    p.set_defaults(func=_mint)
