"""SQL for the rendered-message cache (SQLite). Mixed into SqliteTx, so readers and units of work
both see it."""

from __future__ import annotations

import sqlite3

import orjson

from gateway.store.base import RenderedRow


class RenderedSql:
    c: sqlite3.Connection

    def rendered(self, message_id: str, fmt: str) -> RenderedRow | None:
        row = self.c.execute(
            "SELECT message_id, format, status, errors, body, created_at FROM rendered "
            "WHERE message_id = ? AND format = ?",
            (message_id, fmt),
        ).fetchone()
        if row is None:
            return None
        return RenderedRow(row[0], row[1], row[2], orjson.loads(row[3]), row[4], row[5])

    def save_rendered(self, row: RenderedRow) -> RenderedRow:
        """Stores the first rendering of a message; a second one (a race) keeps the first."""
        self.c.execute(
            "INSERT OR IGNORE INTO rendered (message_id, format, status, errors, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (row.message_id, row.format, row.status, orjson.dumps(row.errors), row.body, row.created_at),
        )
        stored = self.rendered(row.message_id, row.format)
        assert stored is not None
        return stored
