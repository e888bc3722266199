"""Secret files made on first start (development keys): mode 0600, created exactly once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def create_once(path: Path, content: bytes) -> None:
    """Write a secret file unless it exists, atomically: when `gateway serve` and `gateway token`
    start together, both end up reading the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
        tmp.write(content)  # NamedTemporaryFile creates the file with mode 0600
    try:
        os.link(tmp.name, path)  # refuses to replace: the first writer wins
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp.name)
