"""Medication reconciliation at discharge: each drug's change status and the reason for it.

A drug's status is the sender's, when given (gw:medication-change); otherwise it is derived by
matching the discharge list against the list known at admission, by ATC code, else by name.
"""

from __future__ import annotations

import copy
from typing import Any

from adapters.fhir import codes

Resource = dict[str, Any]


def drug_key(statement: Resource) -> str:
    concept = statement.get("medicationCodeableConcept") or {}
    for coding in concept.get("coding") or ():
        if coding.get("system") == codes.ATC and coding.get("code"):
            return "atc:" + coding["code"]
    text = concept.get("text") or next(
        (c.get("display") for c in concept.get("coding") or () if c.get("display")), ""
    )
    return "name:" + " ".join(str(text).lower().split())


def _dosage(statement: Resource) -> str:
    return " | ".join(" ".join(str(d.get("text", "")).split()) for d in statement.get("dosage") or ())


def _declared_change(statement: Resource) -> str | None:
    for ext in statement.get("extension") or ():
        if ext.get("url") == codes.EXT_MED_CHANGE and ext.get("valueCode") in codes.MED_CHANGES:
            return str(ext["valueCode"])
    return None


def _with_change(statement: Resource, change: str) -> Resource:
    out = copy.deepcopy(statement)
    out["extension"] = [e for e in out.get("extension") or () if e.get("url") != codes.EXT_MED_CHANGE]
    out["extension"].append({"url": codes.EXT_MED_CHANGE, "valueCode": change})
    return out


def reconcile(admission: list[Resource], discharge: list[Resource]) -> list[Resource]:
    """The discharge medication list, every entry carrying its change status."""
    known = {drug_key(m): m for m in admission}
    result: list[Resource] = []
    seen: set[str] = set()
    for statement in discharge:
        key = drug_key(statement)
        seen.add(key)
        change = _declared_change(statement)
        if change is None:
            if statement.get("status") in ("stopped", "completed"):
                change = "stopped"
            elif key not in known:
                change = "new"
            else:
                change = "unchanged" if _dosage(known[key]) == _dosage(statement) else "changed"
        result.append(_with_change(statement, change))
    for key, statement in known.items():
        if key not in seen:  # known at admission, absent at discharge: stopped, reason unknown
            stopped = _with_change(statement, "stopped")
            stopped["status"] = "stopped"
            stopped["category"] = {"coding": [{"code": "community"}]}
            result.append(stopped)
    return result


def has_changes(reconciled: list[Resource]) -> bool:
    return any(_declared_change(m) != "unchanged" for m in reconciled)
