"""Acknowledgements derived from the incoming message: same separators, version and control id.

Original mode: AA accepted (after it is durable), AE bad content, AR refused or our trouble.
Enhanced mode (MSH-15 present): the accept acknowledgement CA/CE/CR, sent or not as MSH-15 asks.
ERR names each problem's field (ERR-2 in v2.5 and later, ERR-1 before) and its table 0357 code;
a failed handover rule is one ERR with the rule id in ERR-5, its element and source in ERR-7.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.hl7v2.message import Message, Separators
from adapters.problems import Problem

ENHANCED = {"AA": "CA", "AE": "CE", "AR": "CR"}
TEXT_0357 = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}


@dataclass(frozen=True, slots=True)
class Header:
    """What an ACK needs from the incoming MSH; readable even from a message that fails mapping."""

    sep: Separators
    sending_app: str = ""
    sending_facility: str = ""
    receiving_app: str = ""
    receiving_facility: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5"
    accept_ack: str = ""  # MSH-15: AL, NE, ER, SU; empty = original mode

    @classmethod
    def of(cls, msg: Message) -> Header:
        msh = msg.segment("MSH")
        raw = msg.raw
        return cls(
            msg.sep,
            raw(msh, 3),
            raw(msh, 4),
            raw(msh, 5),
            raw(msh, 6),
            msg.component(msh, 9, 2),
            msg.component(msh, 10),
            msg.component(msh, 11) or "P",
            msg.component(msh, 12) or "2.5",
            msg.component(msh, 15).upper(),
        )


def _version_at_least(version: str, major: int, minor: int) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (ValueError, IndexError):
        return True


def _escape(text: str, sep: Separators) -> str:
    esc = sep.escape
    out = text.replace(esc, f"{esc}E{esc}")
    for char, code in (
        (sep.field, "F"),
        (sep.component, "S"),
        (sep.repetition, "R"),
        (sep.subcomponent, "T"),
    ):
        out = out.replace(char, f"{esc}{code}{esc}")
    return out.replace("\r", " ").replace("\n", " ")


def _err(problem: Problem, code_0357: str, sep: Separators, version: str) -> str:
    f, c, s = sep.field, sep.component, sep.subcomponent
    segment, _, field = problem.location.partition("-")
    field = field.split(".")[0] if field.split(".")[0].isdigit() else ""
    location = c.join([segment[:3], "1", field]) if field else segment[:3]
    text = _escape(problem.text, sep)
    code_text = TEXT_0357.get(code_0357, "")
    if _version_at_least(version, 2, 5):
        severity = "E" if problem.severity == "error" else "W" if problem.severity == "warning" else "I"
        code = c.join([code_0357, code_text, "HL70357"])
        return f.join(["ERR", "", location, code, severity, "", "", "", text])
    return f"ERR{f}{location}{c}{s.join([code_0357, code_text, 'HL70357'])}"


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A handover rule the accepted message failed: reported in ERR, never with patient data."""

    rule_id: str
    title: str
    severity: str  # error | warning | information
    path: str  # the FHIR element the rule is about
    source: str


def _rule_err(rule: RuleFailure, sep: Separators, version: str) -> str:
    f, c, s = sep.field, sep.component, sep.subcomponent
    if not _version_at_least(version, 2, 5):
        return f"ERR{f}{c}{c}{c}{s.join(['101', TEXT_0357['101'], 'HL70357'])}"
    severity = {"error": "E", "warning": "W"}.get(rule.severity, "I")
    code = c.join(["101", TEXT_0357["101"], "HL70357"])  # the closest table 0357 code: content missing
    app_code = c.join([_escape(rule.rule_id, sep), _escape(rule.title, sep), "GW-RULE"])
    diagnostic = _escape(f"{rule.path}; source: {rule.source}", sep)
    return f.join(["ERR", "", "", code, severity, app_code, "", diagnostic, _escape(rule.title, sep)])


def build_ack(
    header: Header,
    code: str,
    problems: list[tuple[Problem, str]] = (),  # type: ignore[assignment]
    *,
    text: str = "",
    control_id: str,
    now: datetime | None = None,
    rules: tuple[RuleFailure, ...] | list[RuleFailure] = (),
) -> bytes | None:
    """The ACK for `header`; `problems` pairs each Problem with its table 0357 code.

    Returns None when enhanced mode says no acknowledgement is wanted (MSH-15 NE, or ER/SU
    for the other outcome).
    """
    enhanced = header.accept_ack not in ("", None)
    if enhanced:
        if (
            header.accept_ack == "NE"
            or (header.accept_ack == "ER" and code == "AA")
            or (header.accept_ack == "SU" and code != "AA")
        ):
            return None
        code = ENHANCED[code]
    sep = header.sep
    f = sep.field
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S+0000")
    message_type = sep.component.join(["ACK", header.trigger, "ACK"]) if header.trigger else "ACK"
    msh = f.join(
        [
            "MSH",
            sep.encoding_characters,
            header.receiving_app,
            header.receiving_facility,
            header.sending_app,
            header.sending_facility,
            stamp,
            "",
            message_type,
            control_id,
            header.processing_id,
            header.version,
        ]
    )
    msa = f.join(
        ["MSA", code, header.control_id, _escape(text, sep)] if text else ["MSA", code, header.control_id]
    )
    segments = [msh, msa] + [_err(p, c, sep, header.version) for p, c in problems]
    segments += [_rule_err(r, sep, header.version) for r in rules]
    return ("\r".join(segments) + "\r").encode("utf-8")
