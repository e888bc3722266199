"""Loading rule packs: YAML → checked against schemas/rules/rule-pack.schema.json → compiled.

A load either returns a complete new RuleSet or raises PackError naming the file, the rule and
the field; `RuleBook.reload` keeps the rules in force when a new pack is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from gateway.rules.context import DOCUMENT_VARIABLES
from gateway.rules.fhirpath import ExpressionError, compile_expression, variables_of
from gateway.rules.model import RANK, Deadline, Rule, RuleSet

RULES_DIR = Path(__file__).resolve().parents[2] / "schemas" / "rules"
NATIONAL_PACK = RULES_DIR / "national.yaml"
LOCAL_EXAMPLE_PACK = RULES_DIR / "local-example.yaml"
_SCHEMA = Draft202012Validator(json.loads((RULES_DIR / "rule-pack.schema.json").read_text()))


class PackError(ValueError):
    """A pack that cannot be used; the text names the file, the rule and the field."""


def _field_of(error: Any) -> str:
    """The field an error is about: the missing or unexpected one, else the path below the rule."""
    if error.validator == "required" and (m := re.search(r"'([^']+)' is a required property", error.message)):
        return m.group(1)
    if error.validator == "additionalProperties" and (
        m := re.search(r"'([^']+)' (was|were) unexpected", error.message)
    ):
        return m.group(1)
    if error.validator == "oneOf":
        return "check/deadline"
    return ".".join(str(p) for p in error.path)


def _schema_errors(data: Any, file: str) -> list[str]:
    out = []
    for error in sorted(_SCHEMA.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
        path = list(error.path)
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            raw = data["rules"][path[1]]
            rule = raw.get("id") if isinstance(raw, dict) and raw.get("id") else f"#{path[1] + 1}"
            error.path.clear()
            error.path.extend(path[2:])
            where = f"rule {rule}"
        elif path and path[0] == "escalate":
            where = "escalate"
            error.path.clear()
            error.path.extend(path[2:])
        else:
            where = "pack"
        what = (
            "must be exactly one of: check (a content rule) or deadline (a timing rule)"
            if error.validator == "oneOf"
            else error.message
        )
        out.append(f"{file}: {where}: field '{_field_of(error) or '(top)'}': {what}")
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PackError(f"{path.name}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PackError(
            f"{path.name}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"
        ) from None
    if not isinstance(data, dict):
        raise PackError(f"{path.name}: pack: field '(top)': a pack is a mapping with pack, title and rules")
    if errors := _schema_errors(data, path.name):
        raise PackError("\n".join(errors))
    return data


def _compile_rule(raw: dict[str, Any], pack: str, file: str) -> Rule:
    compiled = {}
    for name in ("when", "check"):
        if raw.get(name):
            try:
                compiled[name] = compile_expression(raw[name])
            except ExpressionError as exc:
                raise PackError(f"{file}: rule {raw['id']}: field '{name}': {exc}") from None
    applies = raw["applies_to"]
    deadline = None
    if d := raw.get("deadline"):
        expect = d["expect"]
        if expect["state"] == "sent" and not expect.get("message"):
            raise PackError(
                f"{file}: rule {raw['id']}: field 'deadline.expect.message': say which message must be sent"
            )
        deadline = Deadline(d["after"], d["within"], expect.get("message"), expect["state"])
    if not applies.get("messages") and not applies.get("events"):
        raise PackError(f"{file}: rule {raw['id']}: field 'applies_to': name messages or events")
    variables = frozenset().union(*(variables_of(raw[n]) for n in ("when", "check") if raw.get(n)))
    return Rule(
        variables=variables,
        per_document=bool(variables & DOCUMENT_VARIABLES.keys()),
        per_recipient="recipient" in variables,
        id=raw["id"],
        pack=pack,
        file=file,
        title=raw["title"],
        explanation=raw["explanation"],
        severity=raw["severity"],
        messages=frozenset(applies.get("messages") or ()),
        events=frozenset(applies.get("events") or ()),
        recipients=frozenset(applies.get("recipients") or ()),
        source=raw["source"],
        path=raw["path"],
        when=raw.get("when"),
        check=raw.get("check"),
        deadline=deadline,
        compiled_when=compiled.get("when"),
        compiled_check=compiled.get("check"),
    )


def _load(path: Path, seen: dict[Path, None], rules: dict[str, Rule], packs: list[str]) -> None:
    path = path.resolve()
    if path in seen:
        return
    seen[path] = None
    data = _read(path)
    if base := data.get("extends"):
        _load(path.parent / base, seen, rules, packs)
    for esc in data.get("escalate") or ():
        target = rules.get(esc["rule"])
        where = f"{path.name}: escalate {esc['rule']}"
        if target is None:
            raise PackError(f"{where}: field 'rule': no such rule in the packs it extends")
        if RANK[esc["severity"]] < RANK[target.severity]:
            raise PackError(
                f"{where}: field 'severity': a local pack may raise a rule's severity, never lower it "
                f"({target.pack} says {target.severity}, this says {esc['severity']})"
            )
        rules[target.id] = _raised(target, esc["severity"], esc["source"])
    for raw in data["rules"]:
        if raw["id"] in rules:
            raise PackError(
                f"{path.name}: rule {raw['id']}: field 'id': duplicate rule id "
                f"(already in {rules[raw['id']].file}); a pack adds rules or escalates them, "
                "it cannot replace one"
            )
        rules[raw["id"]] = _compile_rule(raw, data["pack"], path.name)
    packs.append(data["pack"])


def _raised(rule: Rule, severity: str, source: dict[str, str]) -> Rule:
    merged = {**rule.source, **{k: v for k, v in source.items() if k not in rule.source}}
    if "agreement" in source and "agreement" in rule.source:
        merged["agreement"] = f"{rule.source['agreement']}; {source['agreement']}"
    return replace(
        rule, severity=severity, escalated_from=rule.escalated_from or rule.severity, source=merged
    )


def load_packs(paths: list[Path]) -> RuleSet:
    """Every pack (and what it extends), compiled; raises PackError on the first bad one."""
    seen: dict[Path, None] = {}
    rules: dict[str, Rule] = {}
    packs: list[str] = []
    for path in paths:
        _load(Path(path), seen, rules, packs)
    return RuleSet.of(list(rules.values()), packs)


class RuleBook:
    """The rules in force. A reload swaps in a complete new set or, when it is refused, keeps the old one."""

    def __init__(self, current: RuleSet | None = None) -> None:
        self.current = current or RuleSet()

    def reload(self, paths: list[Path]) -> RuleSet:
        new = load_packs(paths)  # raises PackError: self.current is untouched
        self.current = new
        return new
