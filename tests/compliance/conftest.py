from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.compliance.scene import Scene, scene


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Scene]:
    async for s in scene(tmp_path, "2024-03-04T08:00:00+01:00"):
        yield s
