"""`gateway validate FILE…` and `gateway rules list | explain ID`: the rule packs, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from adapters.fhir.inbound import bundle_problems, decode_message_bundle
from adapters.fhir.inbound_xml import parse_xml_bundle
from adapters.hl7v2.mapping import map_message
from adapters.hl7v2.message import Message
from adapters.problems import InputRejected, Problem
from gateway.clock import SystemClock, iso
from gateway.config import ConfigError, load_settings
from gateway.directory.embedded import EmbeddedDirectory, entries_from_file
from gateway.pipeline.events import event_from_bundle
from gateway.rules.model import Rule, RuleSet
from gateway.rules.offline import OfflineStays
from gateway.rules.packs import PackError, load_packs

SEVERITY_LABEL = {"error": "ERROR", "warning": "WARNING", "information": "INFO"}


def _bundle_of(raw: bytes) -> dict[str, Any]:
    """FHIR JSON or XML, or HL7 v2 (MLLP framing allowed): the same inbound Bundle the doors make."""
    body = raw.strip().strip(b"\x0b\x1c")
    if body.startswith(b"MSH"):
        return map_message(Message.parse(body))
    bundle = decode_message_bundle(orjson.dumps(parse_xml_bundle(body)) if body.startswith(b"<") else body)
    if problems := bundle_problems(bundle):
        raise InputRejected(problems)
    return bundle


def _load(args: argparse.Namespace) -> tuple[RuleSet, Path]:
    settings = load_settings(
        args.config, overrides={"rule_packs": args.rule_packs, "directory": args.directory}
    )
    return load_packs(settings.rule_pack_paths), settings.directory


def _problems(out: TextIO, name: str, problems: list[Problem]) -> None:
    print(f"{name}: REJECTED at intake (nothing would be stored)", file=out)
    for p in problems:
        print(f"  {p.severity.upper():8} {p.location}: {p.text}", file=out)


def validate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Exit 0: no rule errors; 1: an error-level rule failed; 2: a file was unreadable or rejected."""
    out = out or sys.stdout
    try:
        rules, directory_file = _load(args)
    except (ConfigError, PackError) as exc:
        print(f"gateway validate: {exc}", file=sys.stderr)
        return 2
    directory = EmbeddedDirectory(entries_from_file(directory_file))
    stays = OfflineStays(rules, directory, directory)
    now = iso(SystemClock().now())
    worst = 0
    errors = warnings = 0
    print(f"Rule packs: {', '.join(rules.packs) or 'none'} ({len(rules.rules)} rules)\n", file=out)
    for path in args.files:
        try:
            event = event_from_bundle(_bundle_of(Path(path).read_bytes()), now)
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror}", file=out)
            worst = 2
            continue
        except InputRejected as exc:
            _problems(out, str(path), exc.problems)
            worst = 2
            continue
        checked = stays.check(event)
        sent = ", ".join(
            f"{a.notice.message_type if a.notice else a.key.split('|')[0].split(':')[0]}/{a.dispatch_status}"
            for a in checked.actions
        )
        print(f"{path}: event {event.event_code}; would send: {sent or 'nothing'}", file=out)
        if not checked.findings:
            print("  ok: every applicable rule passed", file=out)
        for f in checked.findings:
            print(f"  {SEVERITY_LABEL[f.severity]:8} {f.rule_id:24} {f.subject} ({f.outcome})", file=out)
            print(f"  {'':8} {f.title}", file=out)
            print(f"  {'':8} element: {f.path}", file=out)
            print(f"  {'':8} source: {f.source}", file=out)
            errors += f.severity == "error"
            warnings += f.severity == "warning"
        print(file=out)
    print(f"{len(args.files)} file(s): {errors} rule error(s), {warnings} warning(s)", file=out)
    return worst or (1 if errors else 0)


def _applies(rule: Rule) -> str:
    parts = sorted(rule.messages) + [f"event {e}" for e in sorted(rule.events)]
    if rule.recipients:
        parts.append("to " + "/".join(sorted(rule.recipients)))
    return ", ".join(parts)


def rules_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        rules, _ = _load(args)
    except (ConfigError, PackError) as exc:
        print(f"gateway rules: {exc}", file=sys.stderr)
        return 2
    lang = args.lang
    if args.action == "list":
        print(f"Packs: {', '.join(rules.packs) or 'none'}", file=out)
        for r in rules.rules:
            kind = "timing" if r.deadline else "content"
            print(f"{r.id:26} {r.severity:11} {r.pack:10} {kind:7} {r.title[lang]}", file=out)
        return 0
    rule = rules.get(args.rule_id)
    if rule is None:
        print(
            f"gateway rules: no rule {args.rule_id!r} in {', '.join(rules.packs) or 'no packs'}",
            file=sys.stderr,
        )
        return 2
    severity = rule.severity + (f" (raised from {rule.escalated_from})" if rule.escalated_from else "")
    lines = [
        f"{rule.id}: {rule.title[lang]}",
        f"  pack:        {rule.pack} ({rule.file})",
        f"  severity:    {severity}",
        f"  applies to:  {_applies(rule)}",
        f"  element:     {rule.path}",
        f"  explanation: {rule.explanation[lang]}",
    ]
    if rule.when:
        lines.append(f"  when:        {rule.when}")
    if rule.check:
        lines.append(f"  check:       {rule.check}")
    if rule.deadline:
        d = rule.deadline
        expect = f"{d.expect_message} {d.expect}" if d.expect_message else d.expect
        lines.append(f"  deadline:    {expect} within {d.within} after {d.after}")
    lines += [f"  source:      {kind}: {text}" for kind, text in rule.source.items()]
    print("\n".join(lines), file=out)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (also GATEWAY_CONFIG)")
    p.add_argument("--rule-packs", help="rule pack files, comma-separated (default: the configured ones)")
    p.add_argument("--directory", type=Path, help="directory YAML (default: the configured one)")


def add_parsers(sub: Any) -> None:
    v = sub.add_parser("validate", help="check events (FHIR JSON/XML, HL7 v2) against the rule packs")
    v.add_argument("files", nargs="+", type=Path, help="events, in the order they happen")
    _common(v)
    v.set_defaults(func=validate)
    r = sub.add_parser("rules", help="show the rule packs")
    rs = r.add_subparsers(dest="action", required=True)
    ls = rs.add_parser("list", help="every rule, one a line")
    ex = rs.add_parser("explain", help="one rule in full")
    ex.add_argument("rule_id")
    for p in (ls, ex):
        _common(p)
        p.add_argument("--lang", choices=["en", "nb"], default="en")
        p.set_defaults(func=rules_command)
