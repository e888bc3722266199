"""FHIR message Bundles in XML: parsed and validated by fhir.resources with a hardened parser,
then handed on as the same JSON-shaped dict the JSON door produces."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle
from lxml import etree
from pydantic import ValidationError

from adapters.problems import InputRejected, Problem

# no entities, no DTDs, no network, no huge trees: XML bombs and XXE stop at the parser
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml_bundle(body: bytes) -> dict[str, Any]:
    if b"<!DOCTYPE" in body[:4096].upper():
        raise InputRejected([Problem("$", "syntax", "a DOCTYPE is not accepted")])
    try:
        bundle = Bundle.model_validate_xml(body, xmlparser=SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise InputRejected([Problem("$", "syntax", f"not well-formed XML (line {exc.lineno})")]) from None
    except ValidationError as exc:
        raise InputRejected(
            [
                Problem(".".join(str(p) for p in err["loc"]) or "Bundle", "structure", err["msg"])
                for err in exc.errors(include_input=False, include_url=False)[:20]
            ]
        ) from None
    except ValueError as exc:
        raise InputRejected(
            [Problem("$", "structure", f"not a FHIR Bundle ({type(exc).__name__})")]
        ) from None
    return bundle.model_dump(mode="json", by_alias=True, exclude_none=True)


def to_xml(json_bundle: dict[str, Any]) -> bytes:
    """The gateway's JSON answer, as FHIR XML for a caller that spoke XML."""
    return Bundle.model_validate(json_bundle).model_dump_xml()
