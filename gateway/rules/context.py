"""The data a rule's FHIRPath runs over: the stay as a Bundle, plus named %variables.

The root (the expression's `%resource`) is the stay's resources as a Bundle: Patient, Encounter,
Practitioners, Organizations, Conditions and the medication lists; a message's own content is
`%document`. Variables give each rule a short, fast way to the parts it is about: fhirpathpy
walks its parse tree for every step, so `%sections.followUp` is cheap where a `where()` over all
sections is not. docs/RULES.md lists every variable.
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


def empty_environment() -> dict[str, Any]:
    """Every variable, empty: a new expression's trial run at load."""
    env: dict[str, Any] = {name: [] for name in (*STAY_VARIABLES, *DOCUMENT_VARIABLES, "recipient")}
    env["sections"] = env["readyAssessments"] = {}
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
    """The variables of one check, each built on first use and kept for the check.

    Stay variables are the same for every message of the check; document variables are per
    message content (`resources`, shared by a document's recipients), so a rule that reads only
    stay variables gives one answer for the whole check.
    """

    def __init__(self, state: StayState, recipients: dict[str, str], event_code: str) -> None:
        self.state = state
        self.recipients = recipients
        self.event_code = event_code
        self._stay: dict[str, Any] = {}
        self._docs: dict[int, dict[str, Any]] = {}
        self._root: Resource | None = None

    @property
    def root(self) -> Resource:
        """The stay as a Bundle: what an expression navigates from when it does not start with %."""
        if self._root is None:
            s = self.state
            entries = [
                r for r in (s.patient, s.encounter, *s.practitioners.values(), *s.organizations.values()) if r
            ]
            entries += s.conditions + s.medications_admission + s.medications_discharge
            self._root = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in entries],
            }
        return self._root

    def environment(
        self, needed: frozenset[str], recipient_kind: str | None, resources: list[Resource] | None
    ) -> dict[str, Any]:
        """The variables `needed`, for the stay or for one message's own `resources`."""
        env: dict[str, Any] = {}
        doc = self._docs.setdefault(id(resources), {"resources": resources or []})
        for name in needed:
            if name in STAY_VARIABLES:
                if name not in self._stay:
                    self._stay[name] = STAY_VARIABLES[name](self)
                env[name] = self._stay[name]
            elif name in DOCUMENT_VARIABLES:
                if name not in doc:
                    doc[name] = DOCUMENT_VARIABLES[name](self, doc)
                env[name] = doc[name]
            elif name == "recipient":
                env[name] = recipient_kind or []
        return env

    # stay variables
    def stay_medications(self) -> list[Resource]:
        """The stay's discharge list reconciled with the admission list, once per check."""
        if "_reconciled" not in self._stay:
            s = self.state
            self._stay["_reconciled"] = reconcile(s.medications_admission, s.medications_discharge)
        return self._stay["_reconciled"]

    def episode(self) -> Any:
        s = self.state
        return s.current_ready or (s.ready[-1] if s.ready else None)

    def ready(self) -> Any:
        e = self.episode()
        if e is None:
            return []
        return {
            "at": e.ready_at,
            "declared": e.declared,
            "decidedBy": {"name": [{"text": e.decided_by_name}]} if e.decided_by_name else [],
        }

    def stay(self) -> dict[str, Any]:
        s = self.state
        return {
            "status": s.status,
            "admittedAt": s.admitted_at or [],
            "dischargedAt": s.discharged_at or [],
            "servicesExpected": s.services_expected,
            "disposition": s.discharge_disposition or [],
        }

    def agreement(self) -> list[Any]:
        found = (
            e.get("valueString") or e.get("valueReference")
            for e in _ext(self.state.encounter, codes.EXT_MUNICIPAL_AGREEMENT)
        )
        return [a for a in found if a]


def _doc_meds(doc: dict[str, Any]) -> list[Resource]:
    if "docMeds" not in doc:
        doc["docMeds"] = [r for r in doc["resources"] if r.get("resourceType") == "MedicationStatement"]
    return doc["docMeds"]


def _medications(ctx: StayContext, doc: dict[str, Any]) -> list[Resource]:
    """A message's reconciled list (desired_notices did it), else the stay's discharge list, reconciled."""
    if "medications" not in doc:
        doc["medications"] = _doc_meds(doc) or ctx.stay_medications()
    return doc["medications"]


def _composition(doc: dict[str, Any]) -> Resource | None:
    return next((r for r in doc["resources"] if r.get("resourceType") == "Composition"), None)


def _conditions(ctx: StayContext, doc: dict[str, Any]) -> list[Resource]:
    if "conditions" not in doc:
        own = ctx.state.conditions
        known = {resource_key(c) for c in own}
        extra = [
            r
            for r in doc["resources"]
            if r.get("resourceType") == "Condition" and resource_key(r) not in known
        ]
        doc["conditions"] = own + extra
    return doc["conditions"]


def _sections_of(doc: dict[str, Any]) -> dict[str, Resource]:
    if "sections" not in doc:
        doc["sections"] = _sections(_composition(doc))
    return doc["sections"]


def _candidates(ctx: StayContext, doc: dict[str, Any]) -> list[Resource]:
    s = ctx.state
    return doc["resources"] + list(s.practitioners.values()) + list(s.organizations.values())


def _author(ctx: StayContext, doc: dict[str, Any]) -> Any:
    candidates = _candidates(ctx, doc)
    for ref in (_composition(doc) or {}).get("author") or ():
        author = _resolve(ref, candidates)
        if author and author.get("resourceType") == "Practitioner":
            return author
    return []


def _days_supplied(doc: dict[str, Any]) -> list[int]:
    handed = _sections_of(doc).get("medicationHandedOut")
    days = (e.get("valueInteger") for e in _ext(handed, codes.EXT_DAYS_SUPPLIED))
    return [d for d in days if isinstance(d, int)]


def _unaccounted(ctx: StayContext, doc: dict[str, Any]) -> list[Resource]:
    s = ctx.state
    mentioned = {drug_key(m) for m in (_doc_meds(doc) or s.medications_discharge)}
    return [m for m in s.medications_admission if drug_key(m) not in mentioned]


STAY_VARIABLES: dict[str, Any] = {
    "patient": lambda c: c.state.patient or [],
    "encounter": lambda c: c.state.encounter or [],
    "stay": StayContext.stay,
    "ready": StayContext.ready,
    "readyAssessments": lambda c: {code: True for code in c.episode().assessed} if c.episode() else {},
    "discharge": lambda c: local_facts(c.state.discharged_at) or [],
    "agreement": StayContext.agreement,
    "admissionMedications": lambda c: c.state.medications_admission,
    "recipients": lambda c: c.recipients,
    "event": lambda c: c.event_code,
}
DOCUMENT_VARIABLES: dict[str, Any] = {
    "document": lambda c, d: {"resourceType": "Bundle", "entry": [{"resource": r} for r in d["resources"]]},
    "composition": lambda c, d: _composition(d) or [],
    "sections": lambda c, d: _sections_of(d),
    "conditions": _conditions,
    "mainDiagnoses": lambda c, d: [
        x
        for x in _conditions(c, d)
        if any(e.get("valueCode") == "main" for e in _ext(x, codes.EXT_DIAGNOSIS_RANK))
    ],
    "medications": _medications,
    "changedMedications": lambda c, d: [
        m for m in _medications(c, d) if _change(m) in ("changed", "stopped")
    ],
    "newMedications": lambda c, d: [m for m in _medications(c, d) if _change(m) == "new"],
    "unaccountedMedications": _unaccounted,
    "responsibleUnit": lambda c, d: (
        _resolve((_composition(d) or {}).get("custodian"), _candidates(c, d)) or []
    ),
    "author": _author,
    "daysSupplied": lambda c, d: _days_supplied(d),
}
# every name a rule may use after %; the engine adds resource, context and ucum itself
VARIABLES = (
    frozenset(STAY_VARIABLES) | frozenset(DOCUMENT_VARIABLES) | {"recipient", "resource", "context", "ucum"}
)
