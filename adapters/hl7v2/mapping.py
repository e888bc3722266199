"""HL7 v2 ADT and MDM^T02 → the gateway's inbound FHIR message Bundle (docs/FHIR-PROFILE.md).

Field by field, as docs/HL7V2-MAPPING.md lists. Every problem found is reported at once, named by
its HL7 location, never with the value that was wrong.
"""

from __future__ import annotations

import hashlib
from typing import Any

from adapters.fhir import codes
from adapters.fhir.identifiers import check_person_id, person_id_kind
from adapters.hl7v2.message import Message
from adapters.hl7v2.timestamps import to_date, to_fhir
from adapters.problems import InputRejected, Problem

Resource = dict[str, Any]

ADT = frozenset({"A01", "A02", "A03", "A04", "A08", "A11", "A13", "A16", "A25", "A21", "A22", "A40"})
PERSON_AUTHORITIES = {codes.FNR[8:]: codes.FNR, codes.DNR[8:]: codes.DNR, codes.HNR[8:]: codes.HNR}
PERSON_TYPE_CODES = {"FNR", "DNR", "HNR", "NNNOR"}
PATIENT_CLASS = {"I": "IMP", "O": "AMB", "E": "EMER", "P": "PRENC", "R": "AMB", "B": "OBSENC"}
DOCUMENT_TYPES = {
    "EPIKRISE": codes.LOINC_EPIKRISE,
    codes.LOINC_EPIKRISE: codes.LOINC_EPIKRISE,
    "UTSKRIVNINGSRAPPORT": codes.LOINC_UTSKRIVNINGSRAPPORT,
    codes.LOINC_UTSKRIVNINGSRAPPORT: codes.LOINC_UTSKRIVNINGSRAPPORT,
}
EXPIRED = {"20", "41", "42"}  # HL7 table 0112: expired (at home / in facility / unknown)


def message_type(msg: Message) -> tuple[str, str]:
    msh = msg.segment("MSH")
    return msg.component(msh, 9, 1), msg.component(msh, 9, 2)


class _Mapper:
    def __init__(self, msg: Message, require_person_id: bool = True) -> None:
        self.m = msg
        self.require_person_id = require_person_id
        self.problems: list[Problem] = []
        self.entries: list[Resource] = []

    def problem(self, location: str, kind: str, text: str) -> None:
        self.problems.append(Problem(location, kind, text))  # type: ignore[arg-type]

    def add(self, resource: Resource) -> str:
        url = f"urn:uuid:00000000-0000-4000-8000-{len(self.entries):012x}"
        self.entries.append({"fullUrl": url, "resource": resource})
        return url

    # --- pieces -----------------------------------------------------------------------------

    def person_identifiers(self, seg: list[str] | None, field: int, location: str) -> list[Resource]:
        m, out = self.m, []
        for rep in m.repetitions(seg, field):
            comps = m.components(rep)
            value = comps[0] if comps else ""
            if not value:
                continue
            authority = comps[3].split(m.sep.subcomponent) if len(comps) > 3 else [""]
            type_code = comps[4].upper() if len(comps) > 4 else ""
            system = next((PERSON_AUTHORITIES[a] for a in authority if a in PERSON_AUTHORITIES), None)
            if system is None and (
                type_code in PERSON_TYPE_CODES or authority[0].upper() in PERSON_TYPE_CODES
            ):
                system = "norwegian"
            if system is not None:
                if (reason := check_person_id(value)) is not None:
                    self.problem(location, "invalid", f"Norwegian person number {reason}")
                    continue
                out.append(
                    {"system": system if system != "norwegian" else person_id_kind(value), "value": value}
                )
            else:
                local = next((a for a in authority if a), type_code or "local")
                out.append({"system": f"urn:hl7v2:patient-id:{local}", "value": value})
        return out

    def name(self, value: str) -> Resource | None:
        comps = self.m.components(value)
        family = comps[0].split(self.m.sep.subcomponent)[0] if comps else ""
        given = [g for g in comps[1:3] if g]
        if not family and not given:
            return None
        return {"family": family, "given": given} if given else {"family": family}

    def address(self, value: str) -> Resource | None:
        c = self.m.components(value) + [""] * 10
        street = c[0].split(self.m.sep.subcomponent)[0]
        out: Resource = {"use": "temp" if c[6].upper() in ("C", "TEMP") else "home"}
        if street:
            out["line"] = [street]
        for key, val in (("city", c[2]), ("postalCode", c[4]), ("country", c[5])):
            if val:
                out[key] = val
        if len(c[8]) == 4 and c[8].isdigit():  # XAD-9 county/parish: the kommunenummer
            out["extension"] = [
                {
                    "url": codes.NO_BASIS_PROPERTY,
                    "extension": [
                        {"url": "municipality", "valueCoding": {"system": codes.KOMMUNENUMMER, "code": c[8]}}
                    ],
                }
            ]
        return out if len(out) > 1 else None

    def practitioner_ref(self, value: str) -> Resource | None:
        """XCN → a Practitioner entry; HPR when the authority or type says so."""
        c = self.m.components(value) + [""] * 13
        if not c[0] and not c[1]:
            return None
        flags = {c[8].upper(), c[12].upper(), *c[8].upper().split("&")}
        system = (
            codes.HPR
            if ({"HPR", codes.HPR[8:]} & flags)
            else codes.HER
            if ({"HER", codes.HER[8:]} & flags)
            else "urn:hl7v2:staff-id"
        )
        practitioner: Resource = {"resourceType": "Practitioner"}
        if c[0]:
            practitioner["identifier"] = [{"system": system, "value": c[0]}]
        if c[1]:
            practitioner["name"] = [
                {"family": c[1].split(self.m.sep.subcomponent)[0], **({"given": [c[2]]} if c[2] else {})}
            ]
        url = self.add(practitioner)
        ref: Resource = {"reference": url}
        if c[0] and system != "urn:hl7v2:staff-id":
            ref["identifier"] = {"system": system, "value": c[0]}
        return ref

    def gp(self, pd1: list[str] | None) -> list[Resource]:
        out = []
        for rep in self.m.repetitions(pd1, 4):
            c = self.m.components(rep) + [""] * 13
            flags = {c[8].upper(), c[12].upper(), *c[8].upper().split("&")}
            if c[0] and {"HER", codes.HER[8:]} & flags:
                out.append({"identifier": {"system": codes.HER, "value": c[0]}})
            elif c[0] and {"HPR", codes.HPR[8:]} & flags:
                out.append({"identifier": {"system": codes.HPR, "value": c[0]}})
        return out

    def patient(self) -> Resource:
        m = self.m
        pid = self.pid()
        if pid is None:
            return {"resourceType": "Patient"}
        patient: Resource = {"resourceType": "Patient"}
        identifiers = self.patient_identifiers(pid)
        if identifiers:
            patient["identifier"] = identifiers
        names = [n for n in (self.name(r) for r in m.repetitions(pid, 5)) if n]
        if names:
            patient["name"] = names
        if birth := to_date(m.component(pid, 7)):
            patient["birthDate"] = birth
        gender = {"M": "male", "F": "female", "O": "other", "U": "unknown"}.get(m.component(pid, 8).upper())
        if gender:
            patient["gender"] = gender
        addresses = [a for a in (self.address(r) for r in m.repetitions(pid, 11)) if a]
        if addresses:
            patient["address"] = addresses
        if gp := self.gp(m.segment("PD1")):
            patient["generalPractitioner"] = gp
        contacts = []
        for nk1 in m.all("NK1"):
            contact: Resource = {}
            if name := next((n for n in (self.name(r) for r in m.repetitions(nk1, 2)) if n), None):
                contact["name"] = name
            if relation := m.component(nk1, 3, 2) or m.component(nk1, 3, 1):
                contact["relationship"] = [{"text": relation}]
            if phone := m.component(nk1, 5, 1):
                contact["telecom"] = [{"system": "phone", "value": phone}]
            if contact:
                contacts.append(contact)
        if contacts:
            patient["contact"] = contacts
        if prior := self.prior_ids():
            patient["link"] = [{"other": {"identifier": p}, "type": "replaces"} for p in prior]
        return patient

    def pid(self) -> list[str] | None:
        pid = self.m.segment("PID")
        if pid is None:
            self.problem("PID", "required", "the PID segment is required")
        return pid

    def patient_identifiers(self, pid: list[str]) -> list[Resource]:
        """PID-3, with a valid Norwegian person number required (unless mapping the corpus)."""
        identifiers = self.person_identifiers(pid, 3, "PID-3")
        if (
            self.require_person_id
            and not any(i["system"] in codes.PERSON_ID_SYSTEMS for i in identifiers)
            and not any(p.location == "PID-3" for p in self.problems)
        ):
            self.problem("PID-3", "required", "a fødselsnummer, D-nummer or H-nummer is required")
        return identifiers

    def prior_ids(self) -> list[Resource]:
        """A40: the person ids being merged away (MRG-1)."""
        ids = self.person_identifiers(self.m.segment("MRG"), 1, "MRG-1")
        return [i for i in ids if i["system"] in codes.PERSON_ID_SYSTEMS]

    def encounter(self, event: str, event_time: str | None) -> Resource | None:
        m = self.m
        pv1 = m.segment("PV1")
        visit = m.component(pv1, 19, 1)
        if not visit:
            if event != "A40":
                self.problem("PV1-19", "required", "the visit number identifies the stay")
            return None
        authority = m.component(pv1, 19, 4) or m.get("MSH-4") or "unknown"
        encounter: Resource = {
            "resourceType": "Encounter",
            "identifier": [{"system": f"urn:hl7v2:visit:{authority}", "value": visit}],
            "status": "finished" if event == "A03" else "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": PATIENT_CLASS.get(m.component(pv1, 2).upper(), "IMP"),
            },
        }
        period = {
            k: v
            for k, v in (("start", to_fhir(m.component(pv1, 44))), ("end", to_fhir(m.component(pv1, 45))))
            if v
        }
        if period:
            encounter["period"] = period
        location = (
            [p for p in m.components(m.repetitions(pv1, 3)[0])[:4] if p] if m.repetitions(pv1, 3) else []
        )
        if location:
            encounter["location"] = [
                {"location": {"display": " ".join(p.split(m.sep.subcomponent)[0] for p in location)}}
            ]
        disposition = m.component(pv1, 36)
        if disposition:
            coding = [{"system": "http://terminology.hl7.org/CodeSystem/v2-0112", "code": disposition}]
            if disposition in EXPIRED:
                coding.insert(0, {"code": "exp", "display": "Expired"})
            encounter["hospitalization"] = {"dischargeDisposition": {"coding": coding}}
        extensions = []
        if event == "A16" and event_time:
            extensions.append({"url": codes.EXT_READY, "valueDateTime": event_time})
            evn = m.segment("EVN")
            if m.repetitions(evn, 5) and (ref := self.practitioner_ref(m.repetitions(evn, 5)[0])):
                extensions.append({"url": codes.EXT_READY_DECIDED_BY, "valueReference": ref})
        if extensions:
            encounter["extension"] = extensions
        for rep in m.repetitions(pv1, 7)[:1]:
            if ref := self.practitioner_ref(rep):
                encounter["participant"] = [{"individual": ref}]
        return encounter

    def composition(
        self, encounter_url: str | None, patient_url: str, event_time: str | None
    ) -> Resource | None:
        m = self.m
        txa = m.segment("TXA")
        if txa is None:
            self.problem("TXA", "required", "an MDM^T02 needs its TXA segment")
            return None
        kind = DOCUMENT_TYPES.get(m.component(txa, 2).upper())
        if kind is None:
            self.problem("TXA-2", "unsupported", "document type must be EPIKRISE or UTSKRIVNINGSRAPPORT")
        doc_id = m.component(txa, 12)
        if not doc_id:
            self.problem("TXA-12", "required", "the unique document number links changes and cancels")
        availability = m.component(txa, 19).upper()
        status = (
            "entered-in-error" if availability == "CA" else "amended" if m.component(txa, 13) else "final"
        )
        sections: dict[str, list[str]] = {}
        for obx in m.all("OBX"):
            code = m.component(obx, 3, 1).upper()
            code = code if code in codes.SECTIONS_8311 else "FB"
            text = "\n".join(m.components(r)[0] for r in m.repetitions(obx, 5))
            sections.setdefault(code, []).append(text)
        if kind is None or not doc_id:
            return None
        composition: Resource = {
            "resourceType": "Composition",
            "status": status,
            "identifier": {"system": f"urn:hl7v2:document:{m.get('MSH-4') or 'unknown'}", "value": doc_id},
            "type": {"coding": [{"system": codes.LOINC, "code": kind}]},
            "subject": {"reference": patient_url},
            "date": to_fhir(m.component(txa, 4)) or event_time or "1970-01-01",
            "author": [{"display": m.component(txa, 9, 2) or "ukjent"}],
            "title": "Epikrise" if kind == codes.LOINC_EPIKRISE else "Utskrivningsrapport",
            "section": [
                {
                    "title": codes.SECTIONS_8311[c],
                    "code": {"coding": [{"system": codes.SECTION_8311, "code": c}]},
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + _xhtml("\n".join(t)) + "</div>",
                    },
                }
                for c, t in sections.items()
            ],
        }
        if encounter_url:
            composition["encounter"] = {"reference": encounter_url}
        return composition


def _xhtml(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "<br/>".join(escaped.splitlines()) or "-"


def message_key(msg: Message) -> str:
    """The deduplication key: MSH-10 is unique only per sender, so the sender is part of it."""
    return key_for(msg.get("MSH-3"), msg.get("MSH-4"), msg.get("MSH-10"))


def key_for(application: str, facility: str, control_id: str) -> str:
    """The key of the message with this MSH-3.1, MSH-4.1 and MSH-10 (as stored in `inbound`)."""
    digest = hashlib.sha256(f"{application}|{facility}|{control_id}".encode()).hexdigest()
    return "v2-" + digest[:40]


def event_code(msg: Message) -> str:
    """The event the message carries (the ADT trigger, or T02); InputRejected when the gateway
    does not take the message type or the message cannot be deduplicated."""
    mtype, trigger = message_type(msg)
    if not msg.get("MSH-10"):
        raise InputRejected(
            [Problem("MSH-10", "required", "the message control id is the deduplication key")]
        )
    if not ((mtype == "ADT" and trigger in ADT) or (mtype == "MDM" and trigger == "T02")):
        raise InputRejected([Problem("MSH-9", "unsupported", "message type is not one the gateway takes")])
    return "T02" if mtype == "MDM" else trigger


def accept_check(msg: Message) -> str:
    """What must hold before a message is acknowledged at storage, in microseconds, not the
    full mapping's ≈ 0.15 ms: a type the gateway takes, a control id, and a valid Norwegian person
    number in PID-3. Returns the event code; InputRejected names what is wrong."""
    code = event_code(msg)
    mp = _Mapper(msg)
    if (pid := mp.pid()) is not None:
        mp.patient_identifiers(pid)
    if mp.problems:
        raise InputRejected(mp.problems)
    return code


def sender_her(msg: Message) -> str:
    """The sending institution's HER-id: MSH-4.2 when it is one, else MSH-4 (checked by the caller)."""
    return msg.get("MSH-4.2") if msg.get("MSH-4.2").isdigit() else msg.get("MSH-4")


def map_message(msg: Message, *, require_person_id: bool = True) -> Resource:
    """The inbound message Bundle for one ADT or MDM^T02 message; InputRejected lists every problem.

    require_person_id=False maps messages from abroad (the test corpus) whose PID-3 has no
    Norwegian person number; the gateway itself always requires one.
    """
    mtype, trigger = message_type(msg)
    event_code(msg)
    mp = _Mapper(msg, require_person_id)
    evn = msg.segment("EVN")
    event_time = to_fhir(msg.component(evn, 6)) or to_fhir(msg.component(evn, 2)) or to_fhir(msg.get("MSH-7"))
    patient = mp.patient()
    patient_url = mp.add(patient)
    encounter = mp.encounter(trigger, event_time)
    encounter_url = None
    if encounter is not None:
        encounter["subject"] = {"reference": patient_url}
        encounter_url = mp.add(encounter)
    focus_url = encounter_url or patient_url
    if mtype == "MDM":
        composition = mp.composition(encounter_url, patient_url, event_time)
        if composition is not None:
            focus_url = mp.add(composition)
    if mp.problems:
        raise InputRejected(mp.problems)
    sender = sender_her(msg)
    sender_url = (
        mp.add({"resourceType": "Organization", "identifier": [{"system": codes.HER, "value": sender}]})
        if sender.isdigit()
        else None
    )
    header: Resource = {
        "resourceType": "MessageHeader",
        "id": message_key(msg),
        "eventCoding": {"system": codes.V2_EVENT, "code": "T02" if mtype == "MDM" else trigger},
        "source": {"endpoint": f"urn:hl7v2:{msg.get('MSH-3') or 'unknown'}:{msg.get('MSH-4') or 'unknown'}"},
        "focus": [{"reference": focus_url}],
    }
    if sender_url:
        header["sender"] = {"reference": sender_url}
    if event_time:
        header["extension"] = [{"url": codes.EXT_EVENT_TIME, "valueDateTime": event_time}]
    bundle: Resource = {
        "resourceType": "Bundle",
        "type": "message",
        "entry": [
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-ffffffffffff", "resource": header},
            *mp.entries,
        ],
    }
    if stamp := to_fhir(msg.get("MSH-7")):
        bundle["timestamp"] = stamp
    return bundle
