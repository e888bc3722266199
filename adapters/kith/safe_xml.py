"""Untrusted XML in: one hardened lxml parser and the checks around it.

Threat model (docs/KITH-INBOUND.md): a body from outside may try to make the parser expand
entities (billion laughs), read files or URLs (XXE, external DTDs), build a huge tree, or simply
be large. What is refused, and where:
- bodies over the size limit, before any parsing;
- any DOCTYPE: a byte scan before parsing and the parsed document's docinfo after it (a UTF-16
  body hides its DOCTYPE from the byte scan, not from the parser);
- entities are never resolved, no DTD is loaded, the network is off, huge_tree stays off
  (libxml2's own depth and text-node limits apply).
Schema validation uses the compiled official schemas; xsi:schemaLocation is never followed.
"""

from __future__ import annotations

from lxml import etree

from adapters.problems import InputRejected, Problem

DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
PARSER = etree.XMLParser(**_OPTIONS)
# only used to find who sent a broken document, so a T01 receipt can be addressed
_SALVAGE = etree.XMLParser(recover=True, **_OPTIONS)


def parse(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """The root element of a well-formed, DOCTYPE-free document, or InputRejected."""
    if len(body) > max_bytes:
        raise InputRejected([Problem("$", "too-large", f"the document is over {max_bytes} bytes")])
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise InputRejected([_doctype()])
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError as exc:
        raise InputRejected([Problem("$", "syntax", f"not well-formed XML (line {exc.lineno})")]) from None
    if root.getroottree().docinfo.doctype or root.getroottree().docinfo.internalDTD is not None:
        raise InputRejected([_doctype()])
    return root


def salvage(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element | None:
    """What a recovering parse can read of a broken document (never one with a DOCTYPE)."""
    if len(body) > max_bytes or b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None
    try:
        root = etree.fromstring(body, _SALVAGE)
    except etree.XMLSyntaxError:
        return None
    if root is None or root.getroottree().docinfo.internalDTD is not None:
        return None
    return root


def _doctype() -> Problem:
    return Problem(
        "$",
        "unsafe",
        "a DOCTYPE is not accepted: DTDs and entity declarations are refused (no entity expansion, "
        "no external entities)",
    )
