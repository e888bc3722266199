"""One inbound KITH document: parsed safely, recognised by its root, validated, read.

    bytes → safe_xml.parse → root: AppRec v1.0/v1.1 or MsgHead v1.2 → official schemas →
    AppRec, or MsgHead carrying Dialogmelding 1.0/1.1

A rejection carries the problems and, when the sender could be identified, the header a
negative AppRec is addressed with (T01 not XML, T02 not valid, T10 not supported; HIS 80415).
An AppRec is never answered with an AppRec.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from lxml import etree

from adapters.kith import apprec as apprec_mod
from adapters.kith import safe_xml
from adapters.kith.apprec import AppRec, read_apprec
from adapters.kith.dialog import VERSIONS as DIALOG_VERSIONS
from adapters.kith.dialog import Dialog, content_root, read_dialog
from adapters.kith.msghead import MSGHEAD_NS, Header, read_header
from adapters.kith.xsd import KithSchemas
from adapters.problems import InputRejected, Problem

MAX_SCHEMA_ERRORS = 20


@dataclass(frozen=True, slots=True)
class Inbound:
    apprec: AppRec | None = None
    dialog: Dialog | None = None


class KithRejected(InputRejected):
    """Problems, and the header to address a negative AppRec with (None: cannot be identified)."""

    def __init__(self, problems: list[Problem], header: Header | None) -> None:
        super().__init__(problems)
        self.header = header


def _answerable(header: Header | None) -> Header | None:
    """A header we can address an AppRec with: a message id and an identified sender."""
    if header is None or not header.msg_id or header.sender is None or not header.sender.id:
        return None
    return header


def read_inbound(
    body: bytes, schemas: KithSchemas | None, max_bytes: int = safe_xml.DEFAULT_MAX_BYTES
) -> Inbound:
    """`schemas` None: a deployment that configured no schema folder (warned at start-up)."""
    try:
        root = safe_xml.parse(body, max_bytes)
    except InputRejected as exc:
        header = None
        if exc.problems[0].kind == "syntax":
            salvaged = safe_xml.salvage(body, max_bytes)
            header = read_header(salvaged) if salvaged is not None else None
        raise KithRejected(exc.problems, _answerable(header)) from None
    name = etree.QName(root)
    is_apprec = name.localname == "AppRec" and name.namespace in apprec_mod.VERSIONS
    if not is_apprec and not (name.localname == "MsgHead" and name.namespace == MSGHEAD_NS):
        problem = Problem(
            "/",
            "unsupported",
            f"root element {{{name.namespace or ''}}}{name.localname} is not received here "
            "(AppRec v1.0 or v1.1, or MsgHead v1.2 carrying Dialogmelding 1.0 or 1.1)",
        )
        # an AppRec in a namespace we do not know is still an AppRec: never answered with one
        raise KithRejected([problem], None if name.localname == "AppRec" else _answerable(read_header(root)))
    header = None if is_apprec else read_header(root)
    if schemas is not None and (errors := schemas.errors(root)):
        problems = [
            Problem(f"line {e.line}", "structure", redact(e.message)) for e in errors[:MAX_SCHEMA_ERRORS]
        ]
        raise KithRejected(problems, _answerable(header))
    if is_apprec:
        return Inbound(apprec=read_apprec(root))
    assert header is not None
    payload = content_root(root)
    if payload is None or etree.QName(payload).namespace not in DIALOG_VERSIONS:
        kind = etree.QName(payload).localname if payload is not None else "no XML content"
        problem = Problem(
            "MsgInfo/Type",
            "unsupported",
            f"{header.msg_type or 'this message type'} ({kind}) is not received here: only Dialogmelding "
            "1.0/1.1 in MsgHead, and AppRec",
        )
        raise KithRejected([problem], _answerable(header))
    if not _is_uuid(header.msg_id):
        raise KithRejected([Problem("MsgInfo/MsgId", "bad-id", "MsgId is not a UUID")], _answerable(header))
    return Inbound(dialog=read_dialog(header, payload))


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(value or "")
    except ValueError:
        return False
    return True


_QUOTED = re.compile(r"(Element |attribute |facet )?'([^']*)'")


def redact(message: str) -> str:
    """A schema error without the offending value (it may be a person number or clinical text):
    element, attribute and facet names stay, quoted values become '…'."""

    def keep(m: re.Match[str]) -> str:
        return m.group(0) if m.group(1) else "'…'"

    return _QUOTED.sub(keep, message)
