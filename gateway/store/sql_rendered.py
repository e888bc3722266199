"""SQL for the rendered-message cache (both engines). Mixed into SqlTx, so readers and units of
work both see it."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.store.base import RenderedRow
from gateway.store.cipher import Cipher


class RenderedSql:
    """A rendered message is patient data like its payload: sealed with the same cipher."""

    c: Any  # gateway.store.sql.Connection
    cipher: Cipher

    def rendered(self, message_id: str, fmt: str) -> RenderedRow | None:
        row = self.c.execute(
            "SELECT message_id, format, status, errors, body, created_at FROM rendered "
            "WHERE message_id = ? AND format = ?",
            (message_id, fmt),
        ).fetchone()
        if row is None:
            return None
        body = self.cipher.open(row[4], f"rendered.body|{message_id}|{fmt}") if row[4] is not None else None
        return RenderedRow(row[0], row[1], row[2], orjson.loads(row[3]), body, row[5])

    def save_rendered(self, row: RenderedRow) -> RenderedRow:
        """Stores the first rendering of a message; a second one (a race) keeps the first."""
        self.c.execute(
            "INSERT INTO rendered (message_id, format, status, errors, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                row.message_id,
                row.format,
                row.status,
                orjson.dumps(row.errors),
                None
                if row.body is None
                else self.cipher.seal(row.body, f"rendered.body|{row.message_id}|{row.format}"),
                row.created_at,
            ),
        )
        stored = self.rendered(row.message_id, row.format)
        assert stored is not None
        return stored
