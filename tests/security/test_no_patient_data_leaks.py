"""Patient data stays out of logs and error answers: every fixture scenario (and broken and
unauthorised variants of each input) is driven through an in-process gateway; every log line and
every answer that is not a success is scanned for person numbers (by check digits), the
patients' names and addresses and the clinical text the fixtures carry. None may appear."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from stdnum.no import fodselsnummer

from adapters.hl7v2.message import Message
from gateway import logs
from gateway.auth.scopes import EVENTS_POST
from gateway.auth.tokens import dev_token
from gateway.directory.embedded import DEMO_DIRECTORY
from gateway.replay.runner import local_gateway, recipients_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "messages"
ELEVEN_DIGITS = re.compile(r"(?<!\d)\d{11}(?!\d)")
TEXT_KEYS = {"family", "given", "text", "div", "valueString", "line", "city", "prefix", "comment"}


def person_numbers(text: str) -> set[str]:
    """Every 11-digit run that passes the fødselsnummer / D-nummer check digits."""
    return {m for m in ELEVEN_DIGITS.findall(text) if fodselsnummer.is_valid(m)}


def _words_of(value: str) -> set[str]:
    value = re.sub(r"<[^>]+>", " ", value)  # narrative XHTML: its text only
    return {value.strip()} | {w for w in re.split(r"[\s,.;:()/]+", value) if len(w) >= 5}


def fhir_secrets(node: Any, key: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            found |= fhir_secrets(v, k)
    elif isinstance(node, list):
        for v in node:
            found |= fhir_secrets(v, key)
    elif isinstance(node, str) and key in TEXT_KEYS:
        found |= _words_of(node)
    return found


def hl7_secrets(raw: bytes) -> set[str]:
    msg = Message.parse(raw)
    found: set[str] = set()
    wanted = {"PID": (5, 6, 11), "NK1": (2, 4), "OBX": (5,), "NTE": (3,), "DG1": (4,), "AL1": (3,)}
    for seg in msg.segments:
        for n in wanted.get(seg[0], ()):
            if n < len(seg):
                for part in re.split(r"[\^~&]", seg[n]):
                    found |= _words_of(part)
    return found


def secrets_of(path: Path) -> set[str]:
    raw = path.read_bytes()
    found = hl7_secrets(raw) if path.suffix == ".hl7" else fhir_secrets(orjson.loads(raw))
    found |= person_numbers(raw.decode("latin-1"))
    # drop what is not personal: short tokens, numbers and dates, our own vocabulary
    return {s for s in found if len(s) >= 4 and not re.fullmatch(r"[\d\s:+-]+", s)}


def broken_variants(path: Path) -> list[bytes]:
    """The input made invalid in ways that make the gateway explain what is wrong."""
    raw = path.read_bytes()
    if path.suffix == ".hl7":
        return [
            raw.replace(b"PID|", b"PID|1|X|", 1),  # shifted fields
            raw.replace(b"\rPV1|", b"\rXXX|", 1),  # no visit
            raw[: len(raw) // 2],  # truncated
        ]
    bundle = orjson.loads(raw)
    variants = [raw[: len(raw) // 2]]  # not JSON
    for entry in bundle.get("entry") or []:
        res = entry.get("resource") or {}
        if res.get("resourceType") == "Patient":
            for ident in res.get("identifier") or []:
                ident["value"] = ident["value"][:-1] + str((int(ident["value"][-1]) + 1) % 10)
            res["birthDate"] = "not-a-date"
            res["gender"] = {"unexpected": "object"}
    variants.append(orjson.dumps(bundle))
    return variants


# every door a scenario input goes through; KITH answers are played as written (their message
# placeholders unfilled), so they exercise the refusal paths of the KITH door too
DOORS = {
    ".json": ("/fhir/$process-message", "application/fhir+json"),
    ".hl7": ("/hl7v2", "x-application/hl7-v2+er7"),
    ".xml": ("/kith/inbound", "application/xml"),
}


async def test_no_person_number_name_or_clinical_text_in_logs_or_error_answers(
    tmp_path: Path, database_url: str
) -> None:
    """Across all fixtures and their broken and unauthorised variants, neither the logs nor any
    answer but an accepted one carries a fødselsnummer, a name or clinical text."""
    stream = io.StringIO()
    stdlib = io.StringIO()
    handler = logging.StreamHandler(stdlib)
    logging.getLogger().addHandler(handler)
    logs.configure("debug", stream)
    answers: list[str] = []
    secrets: set[str] = set()
    scenarios = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
    assert len(scenarios) >= 18
    try:
        async with aiohttp.ClientSession() as session:
            for n, folder in enumerate(scenarios):
                data_dir = tmp_path / f"s{n}"
                async with local_gateway(data_dir, DEMO_DIRECTORY, database_server=database_url) as (
                    base,
                    token,
                ):
                    admin = {"Authorization": f"Bearer {token}"}
                    stranger = dev_token(
                        data_dir, client_id="municipality", scopes=[EVENTS_POST], her_ids=["8100001"]
                    )
                    for path in sorted(p for p in folder.iterdir() if p.suffix in DOORS):
                        if path.suffix != ".xml":  # a municipality's answer names no one we do not know
                            secrets |= secrets_of(path)
                        route, kind = DOORS[path.suffix]
                        tries = [(path.read_bytes(), admin)]
                        if path.suffix != ".xml":
                            tries += [(body, admin) for body in broken_variants(path)]
                        tries.append((path.read_bytes(), {"Authorization": f"Bearer {stranger}"}))
                        for body, auth in tries:
                            headers = {"Content-Type": kind, **auth}
                            async with session.post(base + route, data=body, headers=headers) as resp:
                                answer = await resp.read()
                                if resp.status != 200 or b"fatal-error" in answer or b"MSA|A" in answer[:200]:
                                    answers.append(answer.decode("utf-8", "replace"))
                    for her in recipients_of(DEMO_DIRECTORY):
                        async with session.get(f"{base}/feed/{her}", headers=admin) as resp:
                            assert resp.status == 200
    finally:
        logging.getLogger().removeHandler(handler)
        logs.configure("info")
    log_text = stream.getvalue() + stdlib.getvalue()
    assert log_text.count("\n") > 100 and len(answers) > 50  # the scan has something to scan
    assert any("event_rejected" in line for line in log_text.splitlines())
    for where, text in (("logs", log_text), ("error answers", "\n".join(answers))):
        assert not person_numbers(text), f"person numbers in {where}"
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"patient data in {where}: {leaked[:10]}"
    assert len(secrets) > 50  # names, addresses and clinical text were found to look for
