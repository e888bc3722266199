"""Where the inbound KITH schemas come from at run time: a setting, defaulting to a bundled copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.kith.xsd import REQUIRED_FILES, SchemaFolderError
from gateway.app import build_parts
from gateway.config import KITH_SCHEMAS, load_settings
from tests.conftest import SHARED, settings_for


def test_the_bundled_schemas_are_the_official_files() -> None:
    """Every XSD in schemas/kith-xsd is byte for byte the official one; none required is missing."""
    official = SHARED / "standards" / "kith" / "xsd"
    bundled = sorted(KITH_SCHEMAS.glob("*.xsd"))
    assert {p.name for p in bundled} >= set(REQUIRED_FILES)
    for path in bundled:
        assert path.read_bytes() == (official / path.name).read_bytes(), path.name


def test_the_schema_folder_is_a_setting() -> None:
    """GATEWAY_KITH_SCHEMA_DIR overrides the bundled default."""
    assert load_settings(env={}).kith_schema_dir == KITH_SCHEMAS
    assert load_settings(env={"GATEWAY_KITH_SCHEMA_DIR": "/srv/xsd"}).kith_schema_dir == Path("/srv/xsd")


async def test_a_schema_folder_missing_a_file_stops_the_start(tmp_path: Path) -> None:
    """The gateway does not start with a schema folder that lacks a required schema; the file is named."""
    empty = tmp_path / "xsd"
    empty.mkdir()
    with pytest.raises(SchemaFolderError, match=r"MsgHead-v1_2\.xsd"):
        await build_parts(settings_for(tmp_path, kith_schema_dir=empty))
