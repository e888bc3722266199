"""The import direction: wire-format adapters never depend on the service."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_adapters_never_import_the_gateway() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p) if m.split(".")[0] == "gateway")
        for p in (ROOT / "adapters").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_store_package_speaks_sql() -> None:
    outside = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "gateway").rglob("*.py")
        if "store" not in p.parts and "import sqlite3" in p.read_text(encoding="utf-8")
    ]
    assert outside == []
