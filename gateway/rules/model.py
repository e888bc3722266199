"""What a compiled rule pack is made of, and what a check reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("information", "warning", "error")
RANK = {s: n for n, s in enumerate(SEVERITIES)}
# Documents are held on an error; every other message carries a legal deadline or is a plain
# notice, so it goes out flagged instead (docs/RULES.md, "Hold and release").
HOLDABLE = frozenset({"UTSKRIVNINGSRAPPORT", "EPIKRISE"})

Compiled = Callable[[Any, dict[str, Any]], list[Any]]


@dataclass(frozen=True, slots=True)
class Deadline:
    after: str  # a timeline event: admitted | ready | discharged | died | sent
    within: str  # ISO 8601 duration (PT24H, P1D) or "same-day" (the Oslo calendar day)
    expect_message: str | None  # the message type that must be sent by then
    expect: str  # sent | received


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    pack: str
    file: str
    title: dict[str, str]
    explanation: dict[str, str]
    severity: str
    messages: frozenset[str]
    events: frozenset[str]
    recipients: frozenset[str]  # empty = any recipient kind
    source: dict[str, str]
    path: str  # the element the rule is about, as reported to the sender
    when: str | None = None
    check: str | None = None
    deadline: Deadline | None = None
    escalated_from: str | None = None  # the severity a base pack gave it, when a local pack raised it
    variables: frozenset[str] = frozenset()  # what its expressions read: only these are built
    per_document: bool = False  # reads a message's own content, so each message is checked
    per_recipient: bool = False  # reads %recipient
    compiled_when: Compiled | None = field(default=None, compare=False, repr=False)
    compiled_check: Compiled | None = field(default=None, compare=False, repr=False)

    @property
    def source_text(self) -> str:
        return "; ".join(v for v in self.source.values() if v)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Compiled packs, indexed by what a rule applies to so a check only visits its own rules."""

    rules: tuple[Rule, ...] = ()
    packs: tuple[str, ...] = ()
    by_message: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    by_event: dict[str, tuple[Rule, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: list[Rule], packs: list[str]) -> RuleSet:
        by_message: dict[str, list[Rule]] = {}
        by_event: dict[str, list[Rule]] = {}
        for rule in rules:
            if rule.check is None:
                continue  # deadline rules are not content checks: the deadline watcher reads them
            for m in rule.messages:
                by_message.setdefault(m, []).append(rule)
            for e in rule.events:
                by_event.setdefault(e, []).append(rule)
        return cls(
            tuple(rules),
            tuple(packs),
            {k: tuple(v) for k, v in by_message.items()},
            {k: tuple(v) for k, v in by_event.items()},
        )

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed rule for one subject (an event, or a message to one kind of recipient)."""

    rule_id: str
    severity: str
    title: str  # English title: fixed text from the pack, never patient data
    path: str
    source: str
    subject: str  # "event A03" or "UTSKRIVNINGSRAPPORT:DOC-1"
    outcome: str  # held | flagged | recorded
