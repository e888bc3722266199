"""Build the outbound FHIR message Bundle for one notice (docs/FHIR-PROFILE.md, "Outbound").

This Bundle is the canonical outbound message: it is what FHIR subscribers receive, and what
the KITH renderer reads to write the national XML messages.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from adapters.fhir import codes
from gateway.directory.base import Party
from gateway.pipeline.notices import Notice
from gateway.pipeline.routing import Recipients
from gateway.pipeline.stay import StayState

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Envelope:
    message_id: str
    conversation_id: str
    parent_id: str | None
    dispatch_status: str  # N | M | C
    timestamp: str


def _org(her_id: str, name: str, part_of: str | None = None) -> Resource:
    org: Resource = {
        "resourceType": "Organization",
        "identifier": [{"system": codes.HER, "value": her_id}],
        "name": name,
    }
    if part_of:
        org["partOf"] = {"reference": part_of}
    return org


class _Builder:
    """Entries get fullUrls derived from the message id: unique, stable, and cheap (no hashing)."""

    def __init__(self, message_id: str) -> None:
        self.prefix = message_id[:24]
        self.entries: list[Resource] = []

    def add(self, resource: Resource) -> str:
        full = f"urn:uuid:{self.prefix}{len(self.entries):012x}"
        self.entries.append({"fullUrl": full, "resource": resource})
        return full


def _receiver(b: _Builder, party: Party) -> str:
    parent = b.add(_org(party.parent_her, party.parent_name or "")) if party.parent_her else None
    if party.kind == "gp":
        practitioner: Resource = {
            "resourceType": "Practitioner",
            "name": [{"text": party.name}],
            "identifier": [{"system": codes.HER, "value": party.her_id}],
        }
        if party.hpr:
            practitioner["identifier"].append({"system": codes.HPR, "value": party.hpr})
        return b.add(practitioner)
    return b.add(_org(party.her_id, party.name, parent))


def _ext(url: str, **value: Any) -> Resource:
    return {"url": url, **value}


def build_bundle(notice: Notice, env: Envelope, state: StayState, to: Recipients) -> Resource:
    b = _Builder(env.message_id)
    header: Resource = {"resourceType": "MessageHeader", "id": env.message_id}
    b.entries.append({"fullUrl": f"urn:uuid:{env.message_id}", "resource": header})
    sender_ref = b.add(_org(to.sender.her_id, to.sender.name))
    if to.department:
        b.add(_org(to.department.her_id, to.department.name, sender_ref))
    receiver_ref = _receiver(b, notice.recipient)
    patient_ref = b.add(state.patient or {"resourceType": "Patient"})
    encounter = dict(
        state.encounter or {"resourceType": "Encounter", "status": "unknown", "class": {"code": "IMP"}}
    )
    encounter["subject"] = {"reference": patient_ref}
    encounter_ref = b.add(encounter)
    for practitioner in state.practitioners.values():
        b.add(practitioner)

    focus_ref = encounter_ref
    if notice.focus == "list":
        refs = [b.add({**m, "subject": {"reference": patient_ref}}) for n, m in enumerate(notice.resources)]
        focus_ref = b.add(
            {
                "resourceType": "List",
                "status": "current",
                "mode": "snapshot",
                "title": codes.MESSAGE_TYPES["LEGEMIDDELLISTE"],
                "code": {"coding": [{"system": codes.GW_MESSAGE_TYPE, "code": "LEGEMIDDELLISTE"}]},
                "subject": {"reference": patient_ref},
                "encounter": {"reference": encounter_ref},
                "entry": [{"item": {"reference": r}} for r in refs],
            },
        )
    elif notice.focus == "composition" and notice.resources:
        composition = dict(notice.resources[0])
        composition["subject"] = {"reference": patient_ref}
        composition["encounter"] = {"reference": encounter_ref}
        focus_ref = b.add(composition)
        for res in notice.resources[1:]:
            b.add(res)
    elif notice.focus == "composition":  # a gateway-written Dialogmelding notat
        focus_ref = b.add(
            {
                "resourceType": "Composition",
                "status": "final",
                "type": {"coding": [{"system": codes.MESSAGE_TYPE, "code": "DIALOG_NOTAT"}], "text": "Notat"},
                "subject": {"reference": patient_ref},
                "encounter": {"reference": encounter_ref},
                "date": env.timestamp,
                "author": [{"reference": sender_ref}],
                "title": "Dialogmelding",
                "section": [
                    {
                        "title": "Notat",
                        "text": {
                            "status": "generated",
                            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">'
                            f"{html.escape(notice.note or '')}</div>",
                        },
                    }
                ],
            },
        )

    coding = (
        {"system": codes.GW_MESSAGE_TYPE, "code": notice.message_type}
        if notice.message_type == "LEGEMIDDELLISTE"
        else {"system": codes.MESSAGE_TYPE, "code": notice.message_type}
    )
    coding["display"] = codes.MESSAGE_TYPES[notice.message_type]
    extensions = [
        _ext(codes.EXT_CONVERSATION_REF, valueString=env.conversation_id),
        _ext(codes.EXT_DISPATCH_STATUS, valueCode=env.dispatch_status),
    ]
    if env.parent_id:
        extensions.insert(1, _ext(codes.EXT_PARENT_REF, valueString=env.parent_id))
    if notice.event_code:
        extensions.append(
            _ext(
                codes.EXT_EVENT_CODE,
                valueCoding={
                    "system": codes.EVENT_CODE_9121,
                    "code": notice.event_code,
                    "display": codes.EVENT_9121[notice.event_code],
                },
            )
        )
    if notice.event_time:
        extensions.append(_ext(codes.EXT_EVENT_TIME, valueDateTime=notice.event_time))
    if notice.message_type == "HELSEOPPL_SOKNAD":
        extensions.append(
            _ext(codes.EXT_HELSEOPPL_TYPE, valueCode="1" if env.dispatch_status == "N" else "2")
        )
    if notice.gp_class:
        extensions.append(_ext(codes.EXT_GP_CLASS, valueCode=notice.gp_class))
    header.update(
        {
            "extension": extensions,
            "eventCoding": coding,
            "destination": [
                {
                    "name": notice.recipient.name,
                    "endpoint": f"{codes.HER}:{notice.recipient.her_id}",
                    "receiver": {"reference": receiver_ref},
                }
            ],
            "sender": {"reference": sender_ref},
            "source": {"name": "discharge-gateway", "endpoint": f"{codes.HER}:{to.sender.her_id}"},
            "focus": [{"reference": focus_ref}],
        }
    )
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": env.message_id,
        "type": "message",
        "timestamp": env.timestamp,
        "entry": b.entries,
    }
    if notice.gp_class:
        bundle["meta"] = {
            "tag": [
                {
                    "system": codes.GW_GP_CLASS,
                    "code": notice.gp_class,
                    "display": "Må leses og følges opp"
                    if notice.gp_class == "action-required"
                    else "Til orientering",
                }
            ]
        }
    if notice.rule_flags:  # failed handover rules travel with the message (docs/RULES.md)
        bundle.setdefault("meta", {}).setdefault("tag", []).extend(
            {"system": codes.GW_RULE, "code": rule_id, "display": severity}
            for rule_id, severity in notice.rule_flags
        )
    return bundle
