"""SQL for the audit log (migration 0006): insert and query only; the table refuses the rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.store.base import AuditEntry

_COLS = ("seq", "at", "client_id", "organisation", "action", "subject_kind", "subject", "detail")


class AuditSql:
    c: Any  # gateway.store.sql.Connection

    def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        self.c.executemany(
            "INSERT INTO audit (at, client_id, organisation, action, subject_kind, subject, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (e.at, e.client_id, e.organisation, e.action, e.subject_kind, e.subject, e.detail)
                for e in entries
            ],
        )

    def audit(
        self,
        *,
        client_id: str | None,
        subject_kind: str | None,
        subject: str | None,
        since: str | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        rows = self.c.execute(
            f"SELECT {', '.join(_COLS)} FROM audit WHERE seq > ? "
            "AND (CAST(? AS TEXT) IS NULL OR client_id = ?) "
            "AND (CAST(? AS TEXT) IS NULL OR subject_kind = ?) "
            "AND (CAST(? AS TEXT) IS NULL OR subject = ?) AND (CAST(? AS TEXT) IS NULL OR at >= ?) "
            "ORDER BY seq LIMIT ?",
            (after, client_id, client_id, subject_kind, subject_kind, subject, subject, since, since, limit),
        )
        return [dict(zip(_COLS, r, strict=True)) for r in rows]
