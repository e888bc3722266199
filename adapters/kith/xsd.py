"""The official KITH/e-helse XML Schemas, compiled once into one validator.

The published XSDs import each other by web address or by sibling folder; a resolver maps every
import to one local folder by file name, so nothing is fetched from the network. MsgHead's
`Content` is a strict wildcard, so the payload schemas (PLO, Epikrise, Dialogmelding …) are
compiled into the same schema set: validating a MsgHead validates what it carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lxml import etree

# the schemas every deployment needs; the folder may hold more, and every schema in it is loaded
REQUIRED_FILES = (
    "MsgHead-v1_2.xsd",
    "AppRec-v1-2004-11-21.xsd",
    "AppRec-v1.1.xsd",
    "Epikrise-v1.2.xsd",
    "Pasientlogistikk-v1.6.xsd",
    "Helseopplysninger-v1.6.xsd",
    "TverrfagligEpikrise-v1.6.xsd",
    "dialogmelding.xsd",
    "dialogmelding-v1.1.xsd",
)
_TARGET = re.compile(rb'targetNamespace="([^"]+)"')

# no DTDs, no entities, no network: the same rules as for any untrusted XML
_SCHEMA_PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False}


class SchemaFolderError(Exception):
    """The configured schema folder is missing a file or does not compile."""


class _ByFileName(etree.Resolver):
    """Every import or include, whatever its address, is the file of that name in one folder."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        name = PurePosixPath(system_url.replace("\\", "/")).name
        candidate = self.folder / name
        if candidate.is_file():
            return self.resolve_filename(str(candidate), context)
        return None


@dataclass(frozen=True)
class Invalid:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class KithSchemas:
    """One compiled schema set for every namespace whose schema lies in the folder."""

    def __init__(self, folder: Path) -> None:
        folder = self.folder = folder.resolve()
        missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
        if missing:
            raise SchemaFolderError(f"{folder}: missing {', '.join(missing)}")
        self.namespaces = _namespaces(folder)
        parser = etree.XMLParser(**_SCHEMA_PARSER_OPTIONS)
        parser.resolvers.add(_ByFileName(folder))
        imports = "".join(
            f'<xs:import namespace="{ns}" schemaLocation="{(folder / name).as_uri()}"/>'
            for ns, name in sorted(self.namespaces.items())
        )
        wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
        try:
            doc = etree.fromstring(wrapper.encode(), parser, base_url=(folder / "_all.xsd").as_uri())
            self._schema = etree.XMLSchema(doc)
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise SchemaFolderError(f"{folder}: {exc}") from None

    def errors(self, document: etree._Element | etree._ElementTree) -> list[Invalid]:
        """Every way the document departs from the official schemas; empty when it is valid."""
        if self._schema.validate(document):
            return []
        return [Invalid(e.line, e.message) for e in self._schema.error_log]  # type: ignore[attr-defined]


def _namespaces(folder: Path) -> dict[str, str]:
    """namespace -> file name, one file per namespace (the first by name when two declare one)."""
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.xsd")):
        match = _TARGET.search(path.read_bytes()[:8192])
        if match:
            found.setdefault(match.group(1).decode(), path.name)
    return found
