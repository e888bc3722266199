"""Which notices a stay calls for right now, as a pure function of its state and recipients.

The pipeline compares this desired set with what was already sent (pipeline/ledger.py):
missing → new (N), changed content → change (M), no longer called for → cancel (C). One
mechanism covers first sends, corrections, cancels (A11/A13/A25, entered-in-error documents),
late and out-of-order events, and a patient who moves municipality.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.directory.base import Party
from gateway.pipeline.medications import has_changes, reconcile
from gateway.pipeline.routing import Recipients
from gateway.pipeline.stay import StayState

Resource = dict[str, Any]


@dataclass(slots=True)
class Notice:
    key: str
    message_type: str
    recipient: Party
    focus: str  # encounter | composition | list
    event_code: str | None = None  # code list 9121, logistics only
    event_time: str | None = None
    resources: list[Resource] = field(default_factory=list)
    gp_class: str | None = None
    note: str | None = None  # gateway-written text of a Dialogmelding notat
    content: dict[str, Any] = field(default_factory=dict)
    rule_flags: list[tuple[str, str]] = field(default_factory=list)  # (rule id, severity); not content

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(orjson.dumps(self.content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _follow_up_required(resources: list[Resource]) -> bool:
    composition = resources[0] if resources else {}
    for section in composition.get("section") or ():
        for coding in (section.get("code") or {}).get("coding") or ():
            if coding.get("code") == "OP" and (section.get("text") or section.get("entry")):
                return True
    return False


def _doc_meds(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r.get("resourceType") == "MedicationStatement"]


def desired_notices(
    state: StayState,
    to: Recipients,
    *,
    gp_notices: bool,
    report_copy_to_gp: bool,
    sent: frozenset[str] = frozenset(),
) -> list[Notice]:
    """In the order they should be read: admission, ready episodes, discharge, documents.

    `sent` holds the keys of notices already out: an admission notice that was never sent is not
    wanted once the patient has left (events came late or out of order), but one that was sent
    stays wanted, so it is not cancelled by the discharge.
    """
    out: list[Notice] = []
    left = state.status in ("discharged", "died")

    def add(notice: Notice) -> None:
        admission = notice.message_type in ("LOG_INNLAGT", "HELSEOPPL_SOKNAD") or notice.key.startswith(
            "DIALOG_NOTAT:admission"
        )
        if not (left and admission and notice.key not in sent):
            out.append(notice)

    nursing, allocation, gp = to.nursing, to.allocation, to.gp
    admitted = state.status not in ("new", "admission-cancelled") and state.admitted_at is not None
    where = to.department.name if to.department else to.sender.name

    if admitted:
        if nursing:
            add(
                Notice(
                    f"LOG_INNLAGT|{nursing.her_id}",
                    "LOG_INNLAGT",
                    nursing,
                    "encounter",
                    "1",
                    state.admitted_at,
                    content={"t": state.admitted_at, "loc": state.location},
                )
            )
        if allocation and state.services_expected:
            add(
                Notice(
                    f"HELSEOPPL_SOKNAD|{allocation.her_id}",
                    "HELSEOPPL_SOKNAD",
                    allocation,
                    "encounter",
                    "1",
                    state.admitted_at,
                    # updates (type 2) follow changes of what the notice says, not the later ready
                    # notices, which have their own message
                    content={"t": state.admitted_at, "loc": state.location},
                )
            )
        if gp and gp_notices:
            add(
                Notice(
                    f"DIALOG_NOTAT:admission|{gp.her_id}",
                    "DIALOG_NOTAT",
                    gp,
                    "composition",
                    "1",
                    state.admitted_at,
                    gp_class="information",
                    note=f"Pasienten ble innlagt {state.admitted_at} ved {where}.",
                    content={"t": state.admitted_at, "where": where},
                )
            )
        for episode in state.ready:
            if allocation is None:
                break
            add(
                Notice(
                    f"LOG_UTSKRIVNINGSKLAR:{episode.key}|{allocation.her_id}",
                    "LOG_UTSKRIVNINGSKLAR",
                    allocation,
                    "encounter",
                    "3",
                    episode.ready_at,
                    content={"t": episode.ready_at, "by": episode.decided_by, "adm": state.admitted_at},
                )
            )
            if episode.cancelled_at:
                add(
                    Notice(
                        f"LOG_AVMELDING:{episode.key}|{allocation.her_id}",
                        "LOG_AVMELDING",
                        allocation,
                        "encounter",
                        "4",
                        episode.cancelled_at,
                        content={"t": episode.cancelled_at},
                    )
                )

    if state.status == "discharged" and nursing:
        add(
            Notice(
                f"LOG_UTSKREVET|{nursing.her_id}",
                "LOG_UTSKREVET",
                nursing,
                "encounter",
                "2",
                state.discharged_at,
                content={"t": state.discharged_at, "to": state.discharge_disposition},
            )
        )
    if state.status == "died":
        for party in (nursing, gp):
            if party:
                add(
                    Notice(
                        f"LOG_DOD|{party.her_id}",
                        "LOG_DOD",
                        party,
                        "encounter",
                        "13",
                        state.died_at,
                        gp_class="information" if party is gp else None,
                        content={"t": state.died_at},
                    )
                )

    if state.status == "discharged":
        meds = reconcile(state.medications_admission, state.medications_discharge)
        changed = has_changes(meds)
        if meds:
            for party in (nursing, gp):
                if party:
                    add(
                        Notice(
                            f"LEGEMIDDELLISTE|{party.her_id}",
                            "LEGEMIDDELLISTE",
                            party,
                            "list",
                            resources=meds,
                            gp_class=("action-required" if changed else "information")
                            if party is gp
                            else None,
                            content={"meds": meds},
                        )
                    )
        if gp and gp_notices:
            add(
                Notice(
                    f"DIALOG_NOTAT:discharge|{gp.her_id}",
                    "DIALOG_NOTAT",
                    gp,
                    "composition",
                    "2",
                    state.discharged_at,
                    gp_class="action-required" if changed else "information",
                    note=f"Pasienten ble utskrevet {state.discharged_at} fra {where}."
                    + (" Legemiddelendringer: se legemiddellisten." if changed else ""),
                    content={"t": state.discharged_at, "where": where, "changed": changed},
                )
            )

    for doc in state.documents.values():
        if doc.status == "entered-in-error":
            continue
        meds = (
            reconcile(state.medications_admission, _doc_meds(doc.resources))
            if _doc_meds(doc.resources)
            else []
        )
        resources = [r for r in doc.resources if r.get("resourceType") != "MedicationStatement"] + meds
        action = has_changes(meds) or _follow_up_required(doc.resources)
        content = {"doc": doc.resources}
        if doc.kind == "EPIKRISE" and gp:
            add(
                Notice(
                    f"EPIKRISE:{doc.doc_id}|{gp.her_id}",
                    "EPIKRISE",
                    gp,
                    "composition",
                    resources=resources,
                    gp_class="action-required" if action else "information",
                    content=content,
                )
            )
        if doc.kind == "UTSKRIVNINGSRAPPORT":
            targets = [nursing] + ([gp] if report_copy_to_gp else [])
            for party in targets:
                if party:
                    add(
                        Notice(
                            f"UTSKRIVNINGSRAPPORT:{doc.doc_id}|{party.her_id}",
                            "UTSKRIVNINGSRAPPORT",
                            party,
                            "composition",
                            resources=resources,
                            gp_class=("action-required" if action else "information")
                            if party is gp
                            else None,
                            content=content,
                        )
                    )
    return out
