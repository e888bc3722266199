"""`gateway report --from --to --format json|csv|html`: the compliance report from the gateway's
own database, the same figures as `GET /reports/compliance`. Reads only; safe beside a running gateway."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.clock import SystemClock
from gateway.compliance.rates import RateError, load_rates
from gateway.compliance.report import to_csv
from gateway.compliance.service import Compliance, PeriodError, parse_period
from gateway.config import ConfigError, load_settings
from gateway.render.compliance_html import render_report
from gateway.rules.packs import PackError, RuleBook, load_packs
from gateway.store.engines import open_store


async def _report(args: argparse.Namespace) -> str:
    import orjson

    from gateway import logs

    logs.configure("warning", sys.stderr)  # the report is on standard output; warnings are not

    settings = load_settings(args.config, overrides={"data_dir": args.data_dir})
    start, end = parse_period(args.start, args.end)
    if not settings.database_url and not settings.database.exists():
        raise ConfigError(f"no gateway database at {settings.database}")
    from gateway.app import payload_cipher  # the one place the gateway decides its cipher

    store = open_store(settings.database_url, settings.database, payload_cipher(settings))
    await store.start()
    try:
        compliance = Compliance(
            store,
            RuleBook(load_packs(settings.rule_pack_paths)),
            load_rates(settings.waiting_day_rate_paths),
            SystemClock(),
            float(settings.receipt_deadline_hours),
        )
        report = await compliance.report(start, end)
    finally:
        await store.close()
    if args.format == "csv":
        return to_csv(report)
    if args.format == "html":
        return render_report(report)
    return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        text = asyncio.run(_report(args))
    except (ConfigError, PeriodError, PackError, RateError, OSError) as exc:
        print(f"gateway report: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="compliance over a period: deadlines, receipts, waiting days")
    p.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (Europe/Oslo)")
    p.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (included)")
    p.add_argument("--format", choices=["json", "csv", "html"], default="json")
    p.add_argument("--config", type=Path, help="TOML config file (also GATEWAY_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="the gateway's data directory (default ./data)")
    p.add_argument("--out", type=Path, help="write the report here (default: standard output)")
    p.set_defaults(func=run)
