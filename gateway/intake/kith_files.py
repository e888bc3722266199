"""`gateway kith-receive FILE…`: inbound KITH documents from files, through the same intake as
`POST /kith/inbound` (same validation, store, receipts, stay events and answers).

Each answer is written beside the input (or into --out) as `<name>.apprec.xml` for an AppRec
(OK or Avvist) or `<name>.answer.json` for problem details and AppRec receipts. The store is
the gateway's own SQLite file: run it against a data directory no running gateway is writing to.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.config import ConfigError, load_settings


async def _receive_all(args: argparse.Namespace) -> int:
    from gateway.app import build_parts  # the composition root, as `serve` uses it

    settings = load_settings(
        args.config,
        overrides={
            "data_dir": args.data_dir,
            "directory": args.directory,
            "validation_workers": 0,
            "render_workers": 0,
            "signing_workers": 0,
        },
    )
    parts = await build_parts(settings)
    worst = 0
    try:
        for path in args.files:
            reply = await parts.kith.receive(path.read_bytes())
            suffix = ".apprec.xml" if reply.content_type == "application/xml" else ".answer.json"
            out = (args.out or path.parent) / (path.name + suffix)
            out.write_bytes(reply.body)
            print(f"{path.name}: {reply.status} → {out.name}")
            worst = max(worst, 0 if reply.status < 300 else 1)
    finally:
        await parts.close()
    return worst


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_receive_all(args))
    except (ConfigError, OSError) as exc:
        print(f"gateway kith-receive: {exc}", file=sys.stderr)
        return 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kith-receive", help="take inbound KITH XML (AppRec, Dialogmelding) from files")
    p.add_argument("files", type=Path, nargs="+", help="the XML documents, one per file")
    p.add_argument("--config", type=Path, help="TOML config file (also GATEWAY_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="the gateway's data directory (default ./data)")
    p.add_argument("--directory", type=Path, help="directory YAML (default: the bundled demo directory)")
    p.add_argument("--out", type=Path, help="write the answers here (default: beside each input)")
    p.set_defaults(func=run)
