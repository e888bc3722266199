"""The ACK that refuses an HL7 v2 message: AE for its content, AR for its type or our trouble.

Each problem becomes an ERR naming its field and table 0357 code (gateway/errors.py decides the
codes); the texts are the problems' own, which never carry patient data.
"""

from __future__ import annotations

from adapters.hl7v2.ack import Header, build_ack
from adapters.problems import Problem
from gateway.errors import answer_for
from gateway.ids import new_id


def ack_control_id() -> str:
    return new_id().replace("-", "")[:20]


def rejection(header: Header, problems: list[Problem]) -> tuple[bytes, int]:
    """The refusing ACK (empty when enhanced mode wants none) and the HTTP status that goes with it."""
    answers = [answer_for(p.kind) for p in problems]
    code = "AR" if any(a.ack == "AR" for a in answers) else "AE"
    ack = build_ack(
        header,
        code,
        [(p, a.hl7) for p, a in zip(problems, answers, strict=True)],
        text=problems[0].text,
        control_id=ack_control_id(),
    )
    return ack or b"", max(a.http for a in answers)
