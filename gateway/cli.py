"""The `gateway` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web

from gateway import logs
from gateway.config import ConfigError, load_settings
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
                "directory": args.directory,
                "log_level": args.log_level,
            },
        )
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:  # a bad rule pack stops the start with the loader's message (file, rule, field)
        load_packs(settings.rule_pack_paths)
    except PackError as exc:
        print(f"gateway: rule pack refused: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    from gateway.app import build_app  # after logging is configured

    web.run_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        handle_signals=True,
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
    serve.add_argument("--directory", type=Path, help="directory YAML (default: the bundled demo directory)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_serve)
    verify_cli.add_parser(sub)
    replay_runner.add_parser(sub)
    rules_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
