"""Dialogmelding 1.0 (2006-10-11) and 1.1 (2013-01-23) inside MsgHead: notes, questions, answers.

The municipality answers a "Melding om utskrivningsklar pasient" with a Dialogmelding notat
(HISD 80806 §9.4): it can take the patient on the notified date, or from a given date, or it
cannot and does not yet know when. Dialogmelding has no coded field for that, so the reading is a
convention agreed in the helsefellesskap and written down in docs/KITH-INBOUND.md:

- the answer is the first `Notat` whose `TemaKodet/@V` is one of READY_ANSWER_CODES;
- `DatoNotat` (xs:date) in that Notat is "from when" (can: from that date; cannot: when an offer
  is expected; absent: on the notified date / not known);
- any other note that refers to our LOG_UTSKRIVNINGSKLAR is kept as an answer whose content is
  `unclear`: received, but a person must read it (the gateway never guesses from free text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from adapters.kith.msghead import Header, attr, child, local, text, utc

DIALOG_V1_0 = "http://www.kith.no/xmlstds/dialog/2006-10-11"
DIALOG_V1_1 = "http://www.kith.no/xmlstds/dialog/2013-01-23"
VERSIONS = {DIALOG_V1_0: "1.0", DIALOG_V1_1: "1.1"}

# TemaKodet values read as the answer to LOG_UTSKRIVNINGSKLAR (the agreed convention)
READY_ANSWER_CODES = {"KAN_MOTTA": "yes", "KAN_IKKE_MOTTA": "no"}

HER = "urn:oid:2.16.578.1.12.4.1.2"
MESSAGE_TYPE = "urn:oid:2.16.578.1.12.4.1.1.8279"
GW = "https://gateway.helsefellesskap.no/fhir/"
EXT_READY_ANSWER = GW + "ready-answer"
EXT_ANSWERS_MESSAGE = GW + "answers-message"
EXT_CONVERSATION_REF = GW + "conversation-ref"


@dataclass(frozen=True, slots=True)
class Note:
    topic_code: str | None
    topic_system: str | None
    topic_display: str | None
    topic: str | None
    text: str | None
    date: str | None  # DatoNotat
    question: str | None  # the question a svar answers, when it is repeated in the note


@dataclass(frozen=True, slots=True)
class Question:
    type_code: str | None
    type_display: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class Dialog:
    version: str
    kind: str  # notat | forespørsel | svar | other (from MsgInfo/Type)
    header: Header
    notes: list[Note] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReadyAnswer:
    can_receive: str  # yes | no | unclear
    from_date: str | None


KINDS = {"DIALOG_NOTAT": "notat", "DIALOG_FORESPORSEL": "forespørsel", "DIALOG_SVAR": "svar"}


def content_root(msghead: etree._Element) -> etree._Element | None:
    """The payload in Document/RefDoc/Content (the first document's)."""
    content = child(msghead, "Document", "RefDoc", "Content")
    if content is None:
        return None
    return next((c for c in content if isinstance(c.tag, str)), None)


def _all_text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    joined = " ".join(t.strip() for t in el.itertext() if t.strip())
    return joined or None


def _question(el: etree._Element) -> Question:
    return Question(
        attr(el, "TypeForesp"), attr(el, "TypeForesp", name="DN"), _all_text(child(el, "Sporsmal"))
    )


def read_dialog(header: Header, payload: etree._Element) -> Dialog:
    """A schema-valid Dialogmelding as data."""
    notes, questions = [], []
    for el in payload:
        if local(el) == "Notat":
            asked = child(el, "Foresporsel")
            notes.append(
                Note(
                    attr(el, "TemaKodet"),
                    attr(el, "TemaKodet", name="S"),
                    attr(el, "TemaKodet", name="DN"),
                    text(el, "Tema"),
                    _all_text(child(el, "TekstNotatInnhold")),
                    text(el, "DatoNotat"),
                    _all_text(child(asked, "Sporsmal")) if asked is not None else None,
                )
            )
        elif local(el) == "Foresporsel":
            questions.append(_question(el))
    kind = KINDS.get(header.msg_type or "", "other")
    return Dialog(VERSIONS[etree.QName(payload).namespace or ""], kind, header, notes, questions)


def ready_answer(dialog: Dialog) -> ReadyAnswer:
    """Whether and from when the municipality can take the patient, read by the convention above."""
    for note in dialog.notes:
        if note.topic_code in READY_ANSWER_CODES:
            return ReadyAnswer(READY_ANSWER_CODES[note.topic_code], note.date)
    return ReadyAnswer("unclear", None)


def as_communication(
    dialog: Dialog, answers: str | None, answer: ReadyAnswer | None, received: str
) -> dict[str, Any]:
    """The Dialogmelding as a FHIR-shaped Communication: what the stay timeline stores
    (`sent` is its GenDate, `received` when the gateway had it)."""
    h = dialog.header
    payload = []
    for note in dialog.notes:
        parts = [p for p in (note.topic or note.topic_display, note.text) if p]
        if parts:
            payload.append({"contentString": ": ".join(parts)})
    payload += [{"contentString": q.text} for q in dialog.questions if q.text]
    extension: list[dict[str, Any]] = []
    if answers:
        extension.append({"url": EXT_ANSWERS_MESSAGE, "valueString": answers})
    if h.ref_to_conversation:
        extension.append({"url": EXT_CONVERSATION_REF, "valueString": h.ref_to_conversation})
    if answer is not None:
        inner: list[dict[str, Any]] = [{"url": "canReceive", "valueCode": answer.can_receive}]
        if answer.from_date:
            inner.append({"url": "from", "valueDate": answer.from_date})
        extension.append({"url": EXT_READY_ANSWER, "extension": inner})
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{h.msg_id}"}],
        "status": "completed",
        "category": [{"coding": [{"system": MESSAGE_TYPE, "code": h.msg_type}]}],
        "sent": utc(h.gen_date),
        "received": received,
        "payload": payload or [{"contentString": ""}],
        "extension": extension,
    }
    if h.sender and h.sender.her:
        resource["sender"] = {"identifier": {"system": HER, "value": h.sender.her}}
    return resource
