"""The data a rule's FHIRPath runs over: the stay as a Bundle, plus named %variables.

The root (the expression's `%resource`) is the stay's resources as a Bundle: Patient, Encounter,
Practitioners, Organizations, Conditions, medication lists and, for a document, the document.
Variables give each rule a short, fast way to the parts it is about: fhirpathpy walks its parse
tree for every step, so `%sections.followUp` is cheap where a `where()` over all sections is not.
docs/RULES.md lists every variable.
"""

from __future__ import annotations

from typing import Any

from adapters.fhir import codes
from gateway.pipeline.medications import drug_key, reconcile
from gateway.pipeline.stay import StayState, resource_key
from gateway.rules.calendar import local_facts

Resource = dict[str, Any]

SECTION_9141, SECTION_9142, GW_SECTION = codes.SECTION_9141, codes.SECTION_9142, codes.DISCHARGE_CONTENT

# (system, code) → the item name a rule uses in %sections; gw:discharge-content codes are the names.
SECTION_ITEMS = {
    (codes.SECTION_8311, "AA"): "admissionReason",
    (codes.SECTION_8311, "FB"): "course",
    (codes.SECTION_8311, "VU"): "assessment",
    (codes.SECTION_8311, "OP"): "followUp",
    (codes.SECTION_8311, "IP"): "informationGiven",
    (codes.SECTION_8311, "FH"): "function",
    (codes.SECTION_8311, "ME"): "medication",
    (SECTION_9142, "PROB"): "currentProblem",
    (SECTION_9142, "OP"): "followUp",
    (SECTION_9141, "8"): "nursingSummary",
    (SECTION_9141, "14"): "practicalInformation",
}
READY_ASSESSMENTS = ("admissionProblems", "otherProblems", "unclarifiedJustified", "functionAssessed")

VARIABLES = frozenset(
    {
        "patient",
        "encounter",
        "composition",
        "sections",
        "conditions",
        "mainDiagnoses",
        "medications",
        "changedMedications",
        "newMedications",
        "admissionMedications",
        "unaccountedMedications",
        "stay",
        "ready",
        "readyAssessments",
        "responsibleUnit",
        "wardContact",
        "discharge",
        "agreement",
        "recipients",
        "recipient",
        "event",
        "daysSupplied",
        # the engine's own
        "resource",
        "context",
        "ucum",
    }
)


def empty_environment() -> dict[str, Any]:
    env: dict[str, Any] = {name: [] for name in VARIABLES if name not in ("resource", "context", "ucum")}
    env["sections"] = {}
    return env


def _ext(resource: Resource | None, url: str) -> list[dict[str, Any]]:
    return [e for e in (resource or {}).get("extension") or () if e.get("url") == url]


def _sections(composition: Resource | None) -> dict[str, Resource]:
    """Sections that say something: text, entries, or an emptyReason ("not relevant" counts as said)."""
    out: dict[str, Resource] = {}
    for section in (composition or {}).get("section") or ():
        if not (section.get("text") or section.get("entry") or section.get("emptyReason")):
            continue
        for coding in (section.get("code") or {}).get("coding") or ():
            system, code = coding.get("system"), coding.get("code")
            name = code if system == GW_SECTION else SECTION_ITEMS.get((system, code))
            if name:
                out.setdefault(name, section)
    return out


def _resolve(ref: Resource | None, candidates: list[Resource]) -> Resource | None:
    """A reference inside the stay: by Type/id, else by identifier; unresolved, the reference itself."""
    if not ref:
        return None
    target = ref.get("reference") or ""
    ident = ref.get("identifier") or {}
    for res in candidates:
        if target and target == f"{res.get('resourceType')}/{res.get('id')}":
            return res
        if ident.get("value") and any(
            i.get("value") == ident["value"] and i.get("system") == ident.get("system")
            for i in res.get("identifier") or ()
        ):
            return res
    return ref


def _change(statement: Resource) -> str | None:
    return next((e.get("valueCode") for e in _ext(statement, codes.EXT_MED_CHANGE)), None)


class StayContext:
    """Builds the root and variables once per stay and once per document, then hands them out."""

    def __init__(self, state: StayState, recipients: dict[str, str], event_code: str) -> None:
        self.state = state
        self._base: dict[str, Any] | None = None
        self._docs: dict[int, tuple[Resource, dict[str, Any]]] = {}
        self.recipients = recipients
        self.event_code = event_code

    def _base_env(self) -> dict[str, Any]:
        if self._base is not None:
            return self._base
        s = self.state
        episode = s.current_ready or (s.ready[-1] if s.ready else None)
        agreement = [
            e.get("valueString") or e.get("valueReference")
            for e in _ext(s.encounter, codes.EXT_MUNICIPAL_AGREEMENT)
        ]
        self._base = {
            "patient": s.patient or [],
            "encounter": s.encounter or [],
            "stay": {
                "status": s.status,
                "admittedAt": s.admitted_at or [],
                "dischargedAt": s.discharged_at or [],
                "servicesExpected": s.services_expected,
                "disposition": s.discharge_disposition or [],
            },
            "ready": (
                {
                    "at": episode.ready_at,
                    "declared": episode.declared,
                    "decidedBy": {"name": [{"text": episode.decided_by_name}]}
                    if episode.decided_by_name
                    else [],
                }
                if episode
                else []
            ),
            "readyAssessments": {code: True for code in episode.assessed} if episode else {},
            "discharge": local_facts(s.discharged_at) or [],
            "agreement": [a for a in agreement if a],
            "admissionMedications": s.medications_admission,
            "recipients": self.recipients,
            "event": self.event_code,
        }
        return self._base

    def environment(
        self, recipient_kind: str | None, resources: list[Resource] | None
    ) -> tuple[Resource, dict[str, Any]]:
        """(root, variables) for the stay, or for one document/list message when `resources` is given."""
        key = id(resources) if resources is not None else 0
        cached = self._docs.get(key)
        if cached is None:
            cached = self._build(resources)
            self._docs[key] = cached
        root, env = cached
        return root, {**env, "recipient": recipient_kind or []}

    def _build(self, resources: list[Resource] | None) -> tuple[Resource, dict[str, Any]]:
        s = self.state
        base = self._base_env()
        resources = resources or []
        composition = next((r for r in resources if r.get("resourceType") == "Composition"), None)
        doc_meds = [r for r in resources if r.get("resourceType") == "MedicationStatement"]
        # a document's medication list was reconciled by desired_notices; otherwise the stay's own
        meds = doc_meds or reconcile(s.medications_admission, s.medications_discharge)
        mentioned = {drug_key(m) for m in (doc_meds or s.medications_discharge)}
        doc_conditions = [r for r in resources if r.get("resourceType") == "Condition"]
        conditions = s.conditions + [
            c for c in doc_conditions if resource_key(c) not in {resource_key(x) for x in s.conditions}
        ]
        sections = _sections(composition)
        candidates = resources + list(s.practitioners.values()) + list(s.organizations.values())
        authors = [_resolve(a, candidates) for a in (composition or {}).get("author") or ()]
        ward_contact = next((a for a in authors if a and a.get("resourceType") == "Practitioner"), None)
        handed = sections.get("medicationHandedOut")
        days = [e.get("valueInteger") for e in _ext(handed, codes.EXT_DAYS_SUPPLIED)]
        env = {
            **base,
            "composition": composition or [],
            "sections": sections,
            "conditions": conditions,
            "mainDiagnoses": [
                c
                for c in conditions
                if any(e.get("valueCode") == "main" for e in _ext(c, codes.EXT_DIAGNOSIS_RANK))
            ],
            "medications": meds,
            "changedMedications": [m for m in meds if _change(m) in ("changed", "stopped")],
            "newMedications": [m for m in meds if _change(m) == "new"],
            "unaccountedMedications": [m for m in s.medications_admission if drug_key(m) not in mentioned],
            "responsibleUnit": _resolve((composition or {}).get("custodian"), candidates) or [],
            "wardContact": ward_contact or [],
            "daysSupplied": [d for d in days if isinstance(d, int)],
        }
        entries = (
            [
                r
                for r in (
                    s.patient,
                    s.encounter,
                    *s.practitioners.values(),
                    *s.organizations.values(),
                    *conditions,
                )
                if r
            ]
            + s.medications_admission
            + meds
            + ([composition] if composition else [])
        )
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in entries],
        }, env
