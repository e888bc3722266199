"""Directory from one YAML file, loaded into the store at start and answered from memory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import yaml

from gateway.directory.base import Municipality, Party

DEMO_DIRECTORY = Path(__file__).with_name("demo.yaml")


class DirectoryError(Exception):
    pass


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise DirectoryError(f"{where}: '{key}' is required")
    return data[key]


def entries_from_file(path: Path) -> list[tuple[str, str, str]]:
    """Flatten the YAML file to (kind, key, json) rows for the store, checking what we rely on."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DirectoryError(f"{path.name}: cannot read directory ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise DirectoryError(f"{path.name}: expected a mapping at the top")
    rows: list[tuple[str, str, str]] = [
        (
            "meta",
            "settings",
            orjson.dumps(
                {"helsefellesskap": data.get("helsefellesskap", ""), **(data.get("settings") or {})}
            ).decode(),
        )
    ]
    for n, inst in enumerate(data.get("institutions") or []):
        rows.append(
            ("institution", str(_require(inst, "her_id", f"institutions[{n}]")), orjson.dumps(inst).decode())
        )
    for n, mun in enumerate(data.get("municipalities") or []):
        number = str(_require(mun, "number", f"municipalities[{n}]"))
        if len(number) != 4 or not number.isdigit():
            raise DirectoryError(f"municipalities[{n}].number: kommunenummer must be 4 digits")
        _require(mun, "her_id", f"municipalities[{n}]")
        rows.append(("municipality", number, orjson.dumps(mun).decode()))
    for n, gp in enumerate(data.get("gps") or []):
        rows.append(("gp", str(_require(gp, "hpr", f"gps[{n}]")), orjson.dumps(gp).decode()))
    for person, hpr in (data.get("fastlegeregister") or {}).items():
        rows.append(("fastlege", str(person), orjson.dumps({"hpr": str(hpr)}).decode()))
    return rows


class EmbeddedDirectory:
    """Directory and Fastlegeregister over the rows the store holds."""

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        self._settings: dict[str, Any] = {}
        self._institutions: dict[str, Party] = {}
        self._municipalities: dict[str, Municipality] = {}
        self._gps_hpr: dict[str, Party] = {}
        self._gps_her: dict[str, Party] = {}
        self._fastlege: dict[str, str] = {}
        self._formats: dict[str, str] = {}  # receiving HER-id -> preferred wire format
        # who belongs to whom: a hospital's departments, a municipality's services, a practice's GPs
        self._members: dict[str, set[str]] = {}
        self._org_numbers: dict[str, str] = {}
        for kind, key, body in rows:
            self._add(kind, key, orjson.loads(body))

    def _add(self, kind: str, key: str, d: dict[str, Any]) -> None:
        if kind == "meta":
            self._settings = d
        elif kind == "institution":
            inst = Party(str(d["her_id"]), d.get("name", ""), "hospital")
            self._institutions[inst.her_id] = inst
            self._belongs(inst.her_id, inst.her_id, d.get("org_no"))
            for dep in d.get("departments") or []:
                self._belongs(str(dep["her_id"]), inst.her_id)
                self._institutions[str(dep["her_id"])] = Party(
                    str(dep["her_id"]), dep.get("name", ""), "department", inst.her_id, inst.name
                )
        elif kind == "municipality":
            fmt = d.get("format", "fhir")
            services = d.get("services") or {}

            def service(name: str, role: str, d: dict[str, Any] = d, fmt: str = fmt) -> Party | None:
                s = services.get(name)
                if not s:
                    return None
                return Party(
                    str(s["her_id"]),
                    s.get("name", ""),
                    role,
                    str(d["her_id"]),
                    d.get("name", ""),
                    format=fmt,
                    municipality=key,
                )

            self._belongs(str(d["her_id"]), str(d["her_id"]), d.get("org_no"))
            for s in services.values():
                if s and s.get("her_id"):
                    self._belongs(str(s["her_id"]), str(d["her_id"]))
            municipality = self._municipalities[key] = Municipality(
                key,
                d.get("name", ""),
                str(d["her_id"]),
                service("sykepleietjeneste", "municipality-nursing"),
                service("saksbehandlertjeneste", "municipality-allocation"),
            )
            for party in (municipality.nursing, municipality.allocation):
                if party is not None:
                    self._formats[party.her_id] = party.format
        elif kind == "gp":
            practice = d.get("practice") or {}
            name = d.get("name") or {}
            gp = Party(
                str(d.get("her_id") or practice.get("her_id", "")),
                f"{name.get('given', '')} {name.get('family', '')}".strip(),
                "gp",
                str(practice.get("her_id", "")) or None,
                practice.get("name"),
                hpr=key,
                format=d.get("format", "fhir"),
                municipality=practice.get("municipality"),
            )
            self._gps_hpr[key] = gp
            self._formats[gp.her_id] = gp.format
            self._belongs(gp.her_id, gp.parent_her or gp.her_id)
            self._gps_her[gp.her_id] = gp
            if gp.parent_her:
                self._gps_her.setdefault(gp.parent_her, gp)
        elif kind == "fastlege":
            self._fastlege[key] = d["hpr"]

    def _belongs(self, member: str, owner: str, org_no: Any = None) -> None:
        self._members.setdefault(owner, {owner}).add(member)
        if org_no:
            self._org_numbers[str(org_no)] = owner

    def owned_her_ids(self, her_ids: Iterable[str], org_numbers: Iterable[str]) -> frozenset[str]:
        """Every HER-id the organisations named by these HER-ids and organisation numbers own:
        each one itself and, for a hospital, municipality or practice, everything under it."""
        owners = set(her_ids) | {self._org_numbers[n] for n in org_numbers if n in self._org_numbers}
        return frozenset(h for owner in owners for h in self._members.get(owner, {owner}))

    def municipality(self, number: str) -> Municipality | None:
        return self._municipalities.get(number)

    def gp_by_her(self, her_id: str) -> Party | None:
        return self._gps_her.get(her_id)

    def gp_by_hpr(self, hpr: str) -> Party | None:
        return self._gps_hpr.get(hpr)

    def institution(self, her_id: str) -> Party | None:
        return self._institutions.get(her_id)

    def default_institution(self) -> Party:
        hospitals = [p for p in self._institutions.values() if p.kind == "hospital"]
        if not hospitals:
            return Party("0", "Ukjent sykehus", "hospital")
        return hospitals[0]

    def setting(self, name: str, default: bool = False) -> bool:
        return bool(self._settings.get(name, default))

    def preferred_format(self, her_id: str) -> str | None:
        return self._formats.get(her_id)

    def gp_for_person(self, person_id: str) -> Party | None:
        hpr = self._fastlege.get(person_id)
        return self._gps_hpr.get(hpr) if hpr else None
