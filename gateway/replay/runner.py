"""`gateway replay`: play scenario folders against a gateway and say, per scenario, whether it
produced what `expected.yaml` and `expected/` say.

A scenario is a folder of input files played in name order (`*.json` FHIR message Bundles,
`*.hl7` HL7 v2 messages, `*.xml` KITH messages from a municipality: AppRec receipts and
Dialogmelding answers), a README.md saying what happens clinically, `expected.yaml` (how many
inputs are accepted, and each recipient's messages in order as TYPE/N|M|C) and `expected/`, the
produced messages themselves, normalised (gateway/replay/normalise.py).

A municipality's answer refers to a message the gateway made during the replay, whose id is not
known in advance: in an `*.xml` input, `{{message HER TYPE}}` stands for the id of the latest
message of that type to that recipient, filled in just before the file is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
import orjson
import yaml
from aiohttp import web

from adapters.hl7v2.framing import frame, read_frame
from gateway.clock import OSLO, ManualClock
from gateway.replay.fresh import fresh, with_suffix
from gateway.replay.normalise import differences, normalise, normalise_xml, xml_differences
from gateway.replay.timing import arrival


class ReplayError(Exception):
    """A scenario that cannot be played as written."""


@dataclass(frozen=True)
class Answer:
    accepted: bool  # the gateway took the input (stored it), whatever the rules found
    findings: list[str]  # failed handover rules: "RULE-ID severity"


def hl7_stored(ack: bytes) -> bool:
    """AA (or CA), or an AE whose every ERR is a handover rule: the message was stored all the same
    (docs/RULES.md); an AE for bad content or an AR means it was not."""
    segments = ack.replace(b"\n", b"\r").split(b"\r")
    msa = next((s.split(b"|") for s in segments if s.startswith(b"MSA|")), [b"MSA", b""])
    if msa[1] in (b"AA", b"CA"):
        return True
    errs = [s for s in segments if s.startswith(b"ERR|")]
    return msa[1] == b"AE" and bool(errs) and all(b"^GW-RULE" in s for s in errs)


def rule_findings(suffix: str, answer: bytes) -> list[str]:
    """Each failed handover rule named in an answer: OperationOutcome issues (FHIR), ERR segments
    with a GW-RULE code (HL7 v2)."""
    if suffix == ".json":
        try:
            bundle = orjson.loads(answer)
            issues = bundle["entry"][1]["resource"]["issue"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return []
        return [
            f"{i['details']['coding'][0]['code']} {i['severity']}"
            for i in issues
            if i.get("code") == "business-rule"
        ]
    if suffix == ".hl7":
        out = []
        for seg in answer.replace(b"\n", b"\r").split(b"\r"):
            fields = seg.decode(errors="replace").split("|")
            if fields[0] == "ERR" and len(fields) > 5 and fields[5].endswith("^GW-RULE"):
                severity = {"E": "error", "W": "warning", "I": "information"}.get(fields[4], fields[4])
                out.append(f"{fields[5].split('^')[0]} {severity}")
        return out
    return []


@dataclass
class Verdict:
    name: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


INPUTS = (".json", ".hl7", ".xml")
_ROUTES = {
    ".hl7": ("/hl7v2", "x-application/hl7-v2+er7"),
    ".json": ("/fhir/$process-message", "application/fhir+json"),
    ".xml": ("/kith/inbound", "application/xml"),
}
PLACEHOLDER = re.compile(rb"\{\{message (\d+) ([A-Z_]+)\}\}")


class Target:
    """A running gateway reached over HTTP (the in-process one is reached the same way); HL7 v2
    goes over MLLP instead when an MLLP address is given."""

    def __init__(
        self,
        base: str,
        session: aiohttp.ClientSession,
        token: str | None = None,
        mllp: tuple[str, int] | None = None,
    ) -> None:
        self.base, self.session, self.mllp = base.rstrip("/"), session, mllp
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    async def send(self, path: Path, round_number: int = 0, body: bytes | None = None) -> Answer:
        data = body if body is not None else fresh(path, round_number)
        if path.suffix == ".hl7" and self.mllp:
            return await self._send_mllp(data)
        route, kind = _ROUTES[path.suffix]
        while True:
            async with self.session.post(
                self.base + route, data=data, headers={"Content-Type": kind, **self.auth}
            ) as resp:
                answer = await resp.read()
                wait = resp.headers.get("Retry-After", "1")
            if resp.status != 429:  # over the gateway's rate limit: wait as asked, send again
                break
            await asyncio.sleep(float(wait) if wait.isdigit() else 1.0)
        accepted = 200 <= resp.status < 300  # a receipt is answered 201 Created
        return Answer(accepted, rule_findings(path.suffix, answer) if accepted else [])

    async def _send_mllp(self, message: bytes) -> Answer:
        assert self.mllp is not None
        reader, writer = await asyncio.open_connection(*self.mllp)
        try:
            writer.write(frame(message))
            ack = await read_frame(reader, 1 << 20)
        finally:
            writer.close()
        if ack is None:
            return Answer(False, [])
        findings = rule_findings(".hl7", ack)
        return Answer(hl7_stored(ack), findings)

    async def fill_in(self, raw: bytes, before: dict[str, int]) -> bytes:
        """`{{message HER TYPE}}` → the id of the latest such message made in this replay."""
        for placeholder, her, kind in {m.group(0, 1, 2) for m in PLACEHOLDER.finditer(raw)}:
            feed = await self.produced(her.decode(), before.get(her.decode(), 0), bodies=False)
            made = [m["messageId"] for m in feed if m["messageType"] == kind.decode()]
            if not made:
                raise ReplayError(f"{placeholder.decode()}: no such message was made before this input")
            raw = raw.replace(placeholder, made[-1].encode())
        return raw

    async def cursor(self, her: str) -> int:
        async with self.session.get(f"{self.base}/feed/{her}?after=0&limit=500", headers=self.auth) as resp:
            entries = (await resp.json())["entries"]
        return int(entries[-1]["cursor"]) if entries else 0

    async def scorekeeping(self) -> dict[str, Any]:
        """Each stay's deadlines (`RULE verdict`) and, when it has any, its waiting days
        (docs/COMPLIANCE.md), keyed `stay N` in the order the stays were made."""
        async with self.session.get(f"{self.base}/stays", headers=self.auth) as resp:
            stays = sorted(s["stayId"] for s in (await resp.json())["stays"])
        deadlines: dict[str, list[str]] = {}
        waiting: dict[str, str] = {}
        for n, stay_id in enumerate(stays, 1):
            async with self.session.get(f"{self.base}/stays/{stay_id}/timeline", headers=self.auth) as resp:
                found = (await resp.json())["deadlines"]
            if found:
                deadlines[f"stay {n}"] = [
                    f"{d['ruleId']} {d['messageType'] or ''} {d['verdict']}" for d in found
                ]
            async with self.session.get(
                f"{self.base}/stays/{stay_id}/waiting-days", headers=self.auth
            ) as resp:
                days = await resp.json()
            if days["episodes"]:
                billable = [e for e in days["episodes"] if e["billable"]]
                waiting[f"stay {n}"] = (
                    f"{days['billableDays']} billable day(s) in {len(days['episodes'])} episode(s), "
                    f"{len(billable)} billable"
                )
        out: dict[str, Any] = {}
        if deadlines:
            out["deadlines"] = deadlines
        if waiting:
            out["waiting days"] = waiting
        return out

    async def kith(self, message: dict[str, Any]) -> bytes | None:
        """The message as KITH XML, or None when it has no KITH form (the medication list)."""
        async with self.session.get(self.base + message["href"] + "?format=kith", headers=self.auth) as resp:
            body = await resp.read()
            return body if resp.status == 200 else None

    async def receipts(self, message_id: str) -> str | None:
        """The message's receipt status with error codes (e.g. `rejected E35`), None without one."""
        async with self.session.get(f"{self.base}/messages/{message_id}/receipts", headers=self.auth) as resp:
            body = await resp.json()
        if not body["receipts"]:
            return None
        codes = [e["code"] for e in body["receipts"][-1].get("errors") or []]
        return " ".join([body["receiptStatus"], *codes])

    async def produced(self, her: str, after: int, bodies: bool = True) -> list[dict[str, Any]]:
        async with self.session.get(
            f"{self.base}/feed/{her}?after={after}&limit=500", headers=self.auth
        ) as resp:
            entries = (await resp.json())["entries"]
        if not bodies:
            return list(entries)
        out = []
        for entry in entries:
            async with self.session.get(self.base + entry["href"], headers=self.auth) as resp:
                out.append({**entry, "bundle": await resp.json(content_type=None)})
        return out


FHIR_JSON, KITH_XML = "fhir-json", "kith-xml"


def recipients_of(directory: Path) -> dict[str, str]:
    """Every municipal service and GP in the directory, with the format it prefers."""
    data = yaml.safe_load(directory.read_text(encoding="utf-8"))
    fmt = {"kith": KITH_XML, "kith-xml": KITH_XML}
    out = {
        str(s["her_id"]): fmt.get(m.get("format", ""), FHIR_JSON)
        for m in data.get("municipalities") or []
        for s in (m.get("services") or {}).values()
    }
    out.update(
        {
            str(g["her_id"]): fmt.get(g.get("format", ""), FHIR_JSON)
            for g in data.get("gps") or []
            if g.get("her_id")
        }
    )
    return out


def gateway_time_forms(created: str) -> list[str]:
    """A time the gateway stamped, as FHIR has it (UTC) and as KITH XML has it (Oslo local time)."""
    local = datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(OSLO)
    return [created, local.replace(tzinfo=None).isoformat(), local.isoformat()]


async def play(
    target: Target,
    folder: Path,
    recipients: dict[str, str],
    update: bool,
    clock: ManualClock | None = None,
) -> Verdict:
    """One scenario. With `clock` (an in-process gateway of its own) each input arrives at its own
    time (gateway/replay/timing.py), and the outcome includes every stay's deadlines and waiting days."""
    started = time.perf_counter()
    verdict = Verdict(folder.name)
    before = {her: await target.cursor(her) for her in recipients}
    inputs = sorted(p for p in folder.iterdir() if p.suffix in INPUTS and p.is_file())
    arrivals = scenario_spec(folder).get("arrivals") or {}
    # a running gateway holds other scenarios' stays (and this one's, from an earlier replay):
    # there the inputs go as new messages about new stays, and the suffix is taken out again below
    suffix = "" if clock is not None else f"-t{uuid.uuid4().hex[:8]}"
    answers = []
    for path in inputs:
        raw = path.read_bytes()
        if clock is not None and (when := arrival(path, raw, arrivals)) is not None:
            clock.set(max(when, clock.now()))  # time only moves on: a late event arrives late
        raw = await target.fill_in(raw, before) if path.suffix == ".xml" else raw
        answers.append(await target.send(path, body=with_suffix(path, raw, suffix)))
    accepted = [a.accepted for a in answers]
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
            for stamp in gateway_time_forms(m["created"]):
                times[stamp] = "<gateway-time>"  # when it ran, not what happened
    if suffix:
        ids[suffix] = ""
    summary: dict[str, Any] = {
        "accepted": sum(accepted),
        "rejected": len(accepted) - sum(accepted),
        "messages": {
            her: [f"{m['messageType']}/{m['dispatchStatus']}" for m in msgs] for her, msgs in produced.items()
        },
        # each recipient's preference in the directory: what it is sent (KITH XML has no form for
        # the FHIR-only medication list, which goes as FHIR JSON)
        "formats": {her: recipients[her] for her in produced},
    }
    receipts = {
        f"{her} {m['messageType']}/{m['dispatchStatus']}": status
        for her, msgs in produced.items()
        for m in msgs
        if (status := await target.receipts(m["messageId"])) is not None
    }
    if receipts:  # only scenarios where a municipality answers
        summary["receipts"] = receipts
    findings = {path.name: a.findings for path, a in zip(inputs, answers, strict=True) if a.findings}
    if findings:  # failed handover rules, per input (docs/RULES.md)
        summary["findings"] = findings
    if clock is not None:  # a store of its own: every stay in it is this scenario's
        summary.update(await target.scorekeeping())
    outputs: dict[str, Any] = {}
    for her, msgs in produced.items():
        for n, m in enumerate(msgs):
            name = f"{her}/{n + 1:02d}-{m['messageType']}"
            xml = await target.kith(m) if recipients[her] == KITH_XML else None
            if xml is not None:
                outputs[name + ".xml"] = normalise_xml(xml, ids, times)
            else:
                outputs[name + ".json"] = normalise(m["bundle"], ids, times)
    if update:
        _write_expected(folder, summary, outputs)
    else:
        verdict.problems = _compare(folder, summary, outputs, scorekeeping=clock is not None)
    verdict.seconds = time.perf_counter() - started
    return verdict


def _write_expected(folder: Path, summary: dict[str, Any], outputs: dict[str, Any]) -> None:
    header = "# What the gateway produces for this scenario. Refresh: gateway replay --update-expected\n"
    (folder / "expected.yaml").write_text(
        header + yaml.safe_dump(summary, sort_keys=False, allow_unicode=True)
    )
    root = folder / "expected"
    for old in [*root.glob("*/*.json"), *root.glob("*/*.xml")] if root.exists() else []:
        old.unlink()
    for name, content in outputs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".xml"):
            path.write_bytes(content)
        else:
            path.write_bytes(orjson.dumps(content, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SCOREKEEPING = ("deadlines", "waiting days")  # known only to a replay that owns the gateway's clock


def _compare(
    folder: Path, summary: dict[str, Any], outputs: dict[str, Any], *, scorekeeping: bool = True
) -> list[str]:
    expected_file = folder / "expected.yaml"
    if not expected_file.exists():
        return ["no expected.yaml (run with --update-expected to record one)"]
    expected = yaml.safe_load(expected_file.read_text(encoding="utf-8"))
    if not scorekeeping:  # against a running gateway: its clock is its own, and its stays are not ours
        expected = {k: v for k, v in expected.items() if k not in SCOREKEEPING}
    problems = [f"summary {line}" for line in differences(expected, summary)]
    root = folder / "expected"
    wanted = (
        {str(p.relative_to(root)): p for p in [*root.glob("*/*.json"), *root.glob("*/*.xml")]}
        if root.exists()
        else {}
    )
    for name in sorted(set(wanted) | set(outputs)):
        if name not in outputs:
            problems.append(f"{name}: expected but not produced")
        elif name not in wanted:
            problems.append(f"{name}: produced but not expected")
        elif name.endswith(".xml"):
            problems += [
                f"{name}: {line}" for line in xml_differences(wanted[name].read_bytes(), outputs[name])
            ]
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


def scenario_spec(folder: Path) -> dict[str, Any]:
    """A scenario's optional `scenario.yaml`: `rule_packs` and `arrivals` (file → arrival time)."""
    spec = folder / "scenario.yaml"
    return (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}) if spec.exists() else {}


def scenario_packs(folder: Path) -> str | None:
    """The rule packs a scenario is played under: `scenario.yaml`'s `rule_packs` (file names in
    schemas/rules/, e.g. the local example pack for a local agreement's rule), else the default."""
    from gateway.config import NATIONAL_RULES

    names = scenario_spec(folder).get("rule_packs")
    if names is None:
        return None
    return ",".join(str(NATIONAL_RULES.parent / name) for name in names)


def scenarios(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if any(p.suffix in INPUTS for p in path.iterdir()):
            found.append(path)
        else:
            found += sorted(p for p in path.iterdir() if p.is_dir())
    return found


@contextlib.asynccontextmanager
async def local_gateway(
    data_dir: Path,
    directory: Path,
    rule_packs: str | None = None,
    clock: ManualClock | None = None,
    database_server: str = "",
) -> AsyncIterator[tuple[str, str]]:
    """A gateway of its own on a fresh temporary store, on loopback: each scenario starts clean.
    It runs the development issuer; the second value is an administrator's token for it. Rule
    packs: the gateway's default (the national pack) unless given. The store is SQLite in
    data_dir, or, with a PostgreSQL server URL, a new database there, dropped afterwards."""
    from gateway.app import build_app
    from gateway.auth.tokens import dev_token
    from gateway.config import load_settings

    async with contextlib.AsyncExitStack() as stack:
        database_url = ""
        if database_server:
            from gateway.store.postgres import scratch_database

            database_url = await stack.enter_async_context(scratch_database(database_server))
        settings = load_settings(
            env={},
            overrides={
                "data_dir": data_dir,
                "database_url": database_url,
                "directory": directory,
                "validation_workers": 0,
                "render_workers": 0,
                "signing_workers": 0,
                "mllp_port": 0,
                "auth_mode": "development",
                "rate_limit_per_second": 0,
                **({} if rule_packs is None else {"rule_packs": rule_packs}),
            },
        )
        runner = web.AppRunner(build_app(settings, clock), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)  # before the scratch database is dropped
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{port}", dev_token(data_dir, client_id="replay")


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
                try:
                    if args.target:
                        target = Target(args.target, session, args.token, args.mllp)
                        verdict = await play(target, folder, recipients, args.update_expected)
                        wanted = scenario_spec(folder).get("rule_packs")
                        if wanted and not verdict.passed:  # the target runs the packs it was started with
                            verdict.problems.insert(
                                0, f"(this scenario is played under {wanted}: so must the target)"
                            )
                    else:
                        packs = args.rule_packs if args.rule_packs is not None else scenario_packs(folder)
                        clock = ManualClock(EPOCH)  # moved to the first input's time
                        data_dir = Path(tmp) / f"s{n}"
                        async with local_gateway(
                            data_dir, args.directory, packs, clock, args.database_server
                        ) as (base, token):
                            target = Target(base, session, token)
                            verdict = await play(target, folder, recipients, args.update_expected, clock)
                except ReplayError as exc:
                    verdict = Verdict(folder.name, [str(exc)])
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
    Outputs are not compared (they are, once, without --repeat): this is for volume. A
    municipality's answers (*.xml) refer to messages of one particular round, so they are left out."""
    jobs = [
        (path, r)
        for r in range(args.repeat)
        for folder in folders
        for path in sorted(p for p in folder.iterdir() if p.suffix in (".json", ".hl7"))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack:
            if args.target:
                base, token = args.target, args.token
            else:
                base, token = await stack.enter_async_context(
                    local_gateway(Path(tmp), args.directory, args.rule_packs, None, args.database_server)
                )
            target = Target(base, session, token, args.mllp)
            done = accepted = 0
            started = time.perf_counter()
            queue = list(reversed(jobs))

            async def worker() -> None:
                nonlocal done, accepted
                while queue:
                    path, r = queue.pop()
                    ok = (
                        await target.send(path, r)
                    ).accepted  # awaited first: `x += await f()` reads x early
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


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host, int(port)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gateway.directory.embedded import DEMO_DIRECTORY

    p = sub.add_parser("replay", help="play scenario folders and compare with what they expect")
    p.add_argument("paths", nargs="+", type=Path, help="scenario folders, or folders of them")
    p.add_argument(
        "--target", help="a running gateway's base URL (default: one in-process on a temporary store)"
    )
    p.add_argument(
        "--mllp",
        type=_host_port,
        help="with --target: send HL7 v2 files over MLLP to HOST:PORT instead of POST /hl7v2",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("GATEWAY_TOKEN"),
        help="bearer token for --target (also GATEWAY_TOKEN; mint one with `gateway token`)",
    )
    p.add_argument("--directory", type=Path, default=DEMO_DIRECTORY, help="the directory the target uses")
    p.add_argument(
        "--database-server",
        default="",
        metavar="URL",
        help="without --target: run each scenario's gateway on PostgreSQL, in a new database on the "
        "server this postgresql:// URL names (dropped afterwards); default: SQLite in a temporary folder",
    )
    p.add_argument("--update-expected", action="store_true", help="record what is produced as expected")
    p.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    p.add_argument(
        "--rule-packs",
        default=None,
        help="handover rule packs for the in-process gateway, comma-separated; default: a scenario's "
        'scenario.yaml, else the gateway\'s default (the national pack); "" for none (docs/RULES.md)',
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="play everything N times with fresh identifiers and print throughput (no comparison)",
    )
    p.set_defaults(func=lambda args: asyncio.run(replay(args)))
