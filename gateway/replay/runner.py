"""`gateway replay`: play scenario folders against a gateway and say, per scenario, whether it
produced what `expected.yaml` and `expected/` say.

A scenario is a folder of input files played in name order (`*.json` FHIR message Bundles,
`*.hl7` HL7 v2 messages), a README.md saying what happens clinically, `expected.yaml` (how many
inputs are accepted, and each recipient's messages in order as TYPE/N|M|C) and `expected/`, the
produced messages themselves, normalised (gateway/replay/normalise.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
import orjson
import yaml
from aiohttp import web

from gateway.replay.fresh import fresh
from gateway.replay.normalise import differences, normalise


@dataclass
class Verdict:
    name: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


class Target:
    """A running gateway reached over HTTP (the in-process one is reached the same way)."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base, self.session = base.rstrip("/"), session

    async def send(self, path: Path, round_number: int = 0) -> bool:
        route, kind = (
            ("/hl7v2", "x-application/hl7-v2+er7")
            if path.suffix == ".hl7"
            else ("/fhir/$process-message", "application/fhir+json")
        )
        async with self.session.post(
            self.base + route, data=fresh(path, round_number), headers={"Content-Type": kind}
        ) as resp:
            await resp.read()
            return resp.status == 200

    async def cursor(self, her: str) -> int:
        async with self.session.get(f"{self.base}/feed/{her}?after=0&limit=500") as resp:
            entries = (await resp.json())["entries"]
        return int(entries[-1]["cursor"]) if entries else 0

    async def produced(self, her: str, after: int) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.base}/feed/{her}?after={after}&limit=500") as resp:
            entries = (await resp.json())["entries"]
        out = []
        for entry in entries:
            async with self.session.get(self.base + entry["href"]) as resp:
                out.append({**entry, "bundle": await resp.json(content_type=None)})
        return out


def recipients_of(directory: Path) -> list[str]:
    data = yaml.safe_load(directory.read_text(encoding="utf-8"))
    hers = [s["her_id"] for m in data.get("municipalities") or [] for s in (m.get("services") or {}).values()]
    hers += [g.get("her_id") for g in data.get("gps") or [] if g.get("her_id")]
    return [str(h) for h in hers]


async def play(target: Target, folder: Path, recipients: list[str], update: bool) -> Verdict:
    started = time.perf_counter()
    verdict = Verdict(folder.name)
    before = {her: await target.cursor(her) for her in recipients}
    inputs = sorted(p for p in folder.iterdir() if p.suffix in (".json", ".hl7") and p.is_file())
    accepted = [await target.send(p) for p in inputs]
    await asyncio.sleep(0)  # nothing is asynchronous after the answer, but be explicit about order
    produced = {her: await target.produced(her, before[her]) for her in recipients}
    produced = {her: msgs for her, msgs in produced.items() if msgs}
    ids: dict[str, str] = {}
    times: dict[str, str] = {}
    for msgs in produced.values():
        for m in msgs:
            label = f"<msg-{len(ids) // 2 + 1}>"
            ids.setdefault(m["messageId"], label)  # the id itself
            ids.setdefault(m["messageId"][:24], label + "/")  # the entry fullUrls made from it
            times[m["created"]] = "<gateway-time>"  # when it ran, not what happened
    summary = {
        "accepted": sum(accepted),
        "rejected": len(accepted) - sum(accepted),
        "messages": {
            her: [f"{m['messageType']}/{m['dispatchStatus']}" for m in msgs] for her, msgs in produced.items()
        },
    }
    outputs = {
        f"{her}/{n + 1:02d}-{m['messageType']}.json": normalise(m["bundle"], ids, times)
        for her, msgs in produced.items()
        for n, m in enumerate(msgs)
    }
    if update:
        _write_expected(folder, summary, outputs)
    else:
        verdict.problems = _compare(folder, summary, outputs)
    verdict.seconds = time.perf_counter() - started
    return verdict


def _write_expected(folder: Path, summary: dict[str, Any], outputs: dict[str, Any]) -> None:
    header = "# What the gateway produces for this scenario. Refresh: gateway replay --update-expected\n"
    (folder / "expected.yaml").write_text(
        header + yaml.safe_dump(summary, sort_keys=False, allow_unicode=True)
    )
    root = folder / "expected"
    for old in root.glob("*/*.json") if root.exists() else []:
        old.unlink()
    for name, content in outputs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(content, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def _compare(folder: Path, summary: dict[str, Any], outputs: dict[str, Any]) -> list[str]:
    expected_file = folder / "expected.yaml"
    if not expected_file.exists():
        return ["no expected.yaml (run with --update-expected to record one)"]
    expected = yaml.safe_load(expected_file.read_text(encoding="utf-8"))
    problems = [f"summary {line}" for line in differences(expected, summary)]
    root = folder / "expected"
    wanted = {str(p.relative_to(root)): p for p in root.glob("*/*.json")} if root.exists() else {}
    for name in sorted(set(wanted) | set(outputs)):
        if name not in outputs:
            problems.append(f"{name}: expected but not produced")
        elif name not in wanted:
            problems.append(f"{name}: produced but not expected")
        else:
            problems += [
                f"{name}: {line}"
                for line in differences(orjson.loads(wanted[name].read_bytes()), outputs[name])
            ]
    return problems


def junit(verdicts: list[Verdict], path: Path) -> None:
    suite = ElementTree.Element(
        "testsuite",
        name="gateway replay",
        tests=str(len(verdicts)),
        failures=str(sum(not v.passed for v in verdicts)),
    )
    for v in verdicts:
        case = ElementTree.SubElement(
            suite, "testcase", classname="scenario", name=v.name, time=f"{v.seconds:.3f}"
        )
        if not v.passed:
            ElementTree.SubElement(
                case, "failure", message=f"{len(v.problems)} difference(s)"
            ).text = "\n".join(v.problems)
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def scenarios(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if any(path.glob("*.json")) or any(path.glob("*.hl7")):
            found.append(path)
        else:
            found += sorted(p for p in path.iterdir() if p.is_dir())
    return found


@contextlib.asynccontextmanager
async def local_gateway(data_dir: Path, directory: Path, rule_packs: str = "") -> AsyncIterator[str]:
    """A gateway of its own on a fresh temporary store, on loopback: each scenario starts clean."""
    from gateway.app import build_app
    from gateway.config import load_settings

    settings = load_settings(
        env={},
        overrides={
            "data_dir": data_dir,
            "directory": directory,
            "validation_workers": 0,
            "mllp_port": 0,
            "rule_packs": rule_packs,
        },
    )
    runner = web.AppRunner(build_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def replay(args: argparse.Namespace) -> int:
    from gateway import logs

    logs.configure("warning", sys.stderr)  # the report is on standard output; the gateway's chatter is not
    folders = scenarios(args.paths)
    if args.repeat > 1:
        return await repeat(args, folders)
    recipients = recipients_of(args.directory)
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        async with aiohttp.ClientSession() as session:
            for n, folder in enumerate(folders, 1):
                if args.target:
                    verdict = await play(
                        Target(args.target, session), folder, recipients, args.update_expected
                    )
                else:
                    async with local_gateway(Path(tmp) / f"s{n}", args.directory, args.rule_packs) as base:
                        verdict = await play(Target(base, session), folder, recipients, args.update_expected)
                verdicts.append(verdict)
                mark = "updated" if args.update_expected else ("ok" if verdict.passed else "DIFFERS")
                print(f"[{n}/{len(folders)}] {folder.name}: {mark} ({verdict.seconds * 1000:.0f} ms)")
                for line in verdict.problems[:40]:
                    print(f"    {line}")
    if args.junit:
        junit(verdicts, args.junit)
    failed = [v.name for v in verdicts if not v.passed]
    print(f"{len(verdicts) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


async def repeat(args: argparse.Namespace, folders: list[Path]) -> int:
    """Every scenario's inputs N times with fresh identifiers, over 8 connections; prints throughput.
    Outputs are not compared (they are, once, without --repeat): this is for volume."""
    jobs = [
        (path, r)
        for r in range(args.repeat)
        for folder in folders
        for path in sorted(p for p in folder.iterdir() if p.suffix in (".json", ".hl7"))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack:
            base = args.target or await stack.enter_async_context(
                local_gateway(Path(tmp), args.directory, args.rule_packs)
            )
            target = Target(base, session)
            done = accepted = 0
            started = time.perf_counter()
            queue = list(reversed(jobs))

            async def worker() -> None:
                nonlocal done, accepted
                while queue:
                    path, r = queue.pop()
                    ok = await target.send(path, r)  # awaited first: `x += await f()` reads x too early
                    accepted += ok
                    done += 1
                    if done % 500 == 0 or done == len(jobs):
                        bar = "#" * (30 * done // len(jobs))
                        print(f"\r[{bar:<30}] {done}/{len(jobs)}", end="", flush=True)

            await asyncio.gather(*(worker() for _ in range(8)))
            elapsed = time.perf_counter() - started
    print(
        f"\n{done} events from {len(folders)} scenarios x {args.repeat} in {elapsed:.1f} s: "
        f"{done / elapsed:,.0f} events/s, {accepted} accepted, {done - accepted} refused"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gateway.directory.embedded import DEMO_DIRECTORY

    p = sub.add_parser("replay", help="play scenario folders and compare with what they expect")
    p.add_argument("paths", nargs="+", type=Path, help="scenario folders, or folders of them")
    p.add_argument(
        "--target", help="a running gateway's base URL (default: one in-process on a temporary store)"
    )
    p.add_argument("--directory", type=Path, default=DEMO_DIRECTORY, help="the directory the target uses")
    p.add_argument("--update-expected", action="store_true", help="record what is produced as expected")
    p.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    p.add_argument(
        "--rule-packs",
        default="",
        help="handover rule packs for the in-process gateway, comma-separated (default: none, so a "
        "scenario's expected messages are the pipeline's own; docs/RULES.md)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="play everything N times with fresh identifiers and print throughput (no comparison)",
    )
    p.set_defaults(func=lambda args: asyncio.run(replay(args)))
