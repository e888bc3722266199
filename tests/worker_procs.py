"""The worker processes this test process started, found in /proc (Linux): tests kill one as a
crash would and check that it was replaced."""

from __future__ import annotations

import os
from pathlib import Path


def worker_pids(module: str) -> list[int]:
    """PIDs of this process's children running `python -m module`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
        if parent == os.getpid() and module.encode() in cmdline:
            found.append(int(entry.name))
    return found
