"""The `gateway` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web

from gateway import logs
from gateway.auth import token_cli
from gateway.compliance import report_cli
from gateway.config import ConfigError, check_database, check_security, load_settings
from gateway.intake import kith_files
from gateway.protection import verify_cli
from gateway.replay import runner as replay_runner
from gateway.rules import cli as rules_cli
from gateway.rules.packs import PackError, load_packs


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(
            args.config,
            overrides={
                "host": args.host,
                "port": args.port,
                "mllp_port": args.mllp_port,
                "data_dir": args.data_dir,
                "database_url": args.database_url,
                "directory": args.directory,
                "log_level": args.log_level,
                "auth_mode": args.auth_mode,
            },
        )
        check_security(settings)
        check_database(settings)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:  # a bad rule pack stops the start with the loader's message (file, rule, field)
        load_packs(settings.rule_pack_paths)
    except PackError as exc:
        print(f"gateway: rule pack refused: {exc}", file=sys.stderr)
        return 2
    from gateway.privacy import Pseudonymizer

    # a person number that slips into a log line becomes the same pseudonym the tables use
    logs.configure(settings.log_level, pseudonymize=Pseudonymizer.from_data_dir(settings.data_dir))
    from gateway.app import build_app, server_options  # after logging is configured

    # The store's commit thread hands each finished COMMIT back to the loop through the GIL. At
    # the default 5 ms switch interval it could wait that long behind a unit of work; at 0.5 ms
    # the MLLP ACK p99 at 1,000 messages/s went from 4.8 - 11.1 ms back to 5.1 - 5.5 ms, and no
    # throughput figure fell (docs/PERFORMANCE.md).
    sys.setswitchinterval(0.0005)
    web.run_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        handle_signals=True,
        **server_options(settings),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="Discharge handover gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="TOML config file (also GATEWAY_CONFIG)")
    serve.add_argument("--host", help="HTTP listen address (default 127.0.0.1; GATEWAY_HOST)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8080; GATEWAY_PORT)")
    serve.add_argument("--mllp-port", type=int, help="MLLP port (default 2575; GATEWAY_MLLP_PORT)")
    serve.add_argument("--data-dir", type=Path, help="where the SQLite file and keys live (default ./data)")
    serve.add_argument(
        "--database-url",
        help="postgresql://user:password@host:port/db to use PostgreSQL (GATEWAY_DATABASE_URL); "
        "default: SQLite in the data directory",
    )
    serve.add_argument("--directory", type=Path, help="directory YAML (default: the bundled demo directory)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--auth-mode",
        choices=["jwt", "development"],
        help="jwt (default: needs auth_issuer, auth_audience, auth_jwks_url) or development (own issuer)",
    )
    serve.set_defaults(func=_serve)
    verify_cli.add_parser(sub)
    kith_files.add_parser(sub)
    replay_runner.add_parser(sub)
    token_cli.add_parser(sub)
    rules_cli.add_parsers(sub)
    report_cli.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
