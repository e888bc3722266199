"""The official schemas compile offline into one validator that agrees with the official verdicts."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from lxml import etree

from adapters.kith.xsd import KithSchemas, SchemaFolderError
from tests.conftest import SHARED

KITH = SHARED / "standards" / "kith"
INDEX = list(csv.DictReader((KITH / "examples" / "INDEX.tsv").open(encoding="utf-8"), delimiter="\t"))
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@pytest.fixture(scope="module")
def schemas() -> KithSchemas:
    return KithSchemas(KITH / "xsd")


@pytest.mark.parametrize("row", INDEX, ids=[Path(r["file"]).name for r in INDEX])
def test_every_official_example_gets_its_official_verdict(schemas: KithSchemas, row: dict[str, str]) -> None:
    """VALID examples validate (payload inside MsgHead included); INVALID ones do not;
    NOT-WELL-FORMED ones do not even parse."""
    path = KITH / row["file"]
    if row["result"] == "NOT-WELL-FORMED":
        with pytest.raises(etree.XMLSyntaxError):
            etree.parse(str(path), PARSER)
        return
    errors = schemas.errors(etree.parse(str(path), PARSER))
    if row["result"] == "VALID":
        assert errors == []
    else:
        assert errors, "an official negative example passed"
        assert all(e.line > 0 and e.message for e in errors)


def test_a_folder_missing_a_required_schema_is_named(tmp_path: Path) -> None:
    """A deployment pointing at an incomplete folder is told which file is missing."""
    for xsd in (KITH / "xsd").glob("*.xsd"):
        if xsd.name != "MsgHead-v1_2.xsd":
            shutil.copy(xsd, tmp_path / xsd.name)
    with pytest.raises(SchemaFolderError, match=r"MsgHead-v1_2\.xsd"):
        KithSchemas(tmp_path)
