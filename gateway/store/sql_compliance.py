"""SQL for the compliance views: a stay's complete record in one read, and the watcher's items.

Mixed into SqlTx and SqlReader (gateway/store/sql.py) like DeliverySql.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.store.base import ComplianceItem, OutboundRow, StayEventRow, StayRecord, StayRow
from gateway.store.sql_columns import STAY_COLS

_ITEM_COLS = "stay_id, rule_id, episode, kind, message_type, due_at, opened_at, closed_at, done_at"


def _item(row: Sequence[Any]) -> ComplianceItem:
    return ComplianceItem(*row)


class ComplianceSql:
    """Reads stays, events and messages through the Tx's own methods, so the cipher applies."""

    c: Any  # gateway.store.sql.Connection

    def _stay(self, row: Sequence[Any]) -> StayRow: ...  # provided by SqlTx
    def stay_events(self, stay_id: int) -> list[StayEventRow]: ...
    def stay_outbound(self, stay_id: int) -> list[OutboundRow]: ...

    def stay_ids_since(self, updated_since: str) -> list[int]:
        """The stays (past "new") changed since a time: what the deadline watcher looks at."""
        return [
            r[0]
            for r in self.c.execute(
                "SELECT stay_id FROM stays WHERE updated_at >= ? AND status != 'new' ORDER BY stay_id",
                (updated_since,),
            )
        ]

    def stay_records(
        self, updated_since: str | None, stay_ids: Sequence[int] | None = None
    ) -> list[StayRecord]:
        """Stays (all updated since a time, or the ones named) with their events, messages and
        receipts: everything the timeline, the deadlines and the waiting days are derived from."""
        if stay_ids is not None:
            marks = ",".join("?" * len(stay_ids))
            stays = self.c.execute(
                f"SELECT {STAY_COLS} FROM stays WHERE stay_id IN ({marks}) ORDER BY stay_id", tuple(stay_ids)
            ).fetchall()
        else:
            stays = self.c.execute(
                f"SELECT {STAY_COLS} FROM stays WHERE (CAST(? AS TEXT) IS NULL OR updated_at >= ?) "
                "AND status != 'new' ORDER BY stay_id",
                (updated_since, updated_since),
            ).fetchall()
        out = []
        for s in stays:
            stay_id = s[0]
            receipts: dict[str, list[dict[str, Any]]] = {}
            for r in self.c.execute(
                "SELECT r.message_id, r.status, r.errors, r.sender, r.format, r.received_at "
                "FROM receipts r JOIN outbound o ON o.message_id = r.message_id "
                "WHERE o.stay_id = ? ORDER BY r.receipt_id",
                (stay_id,),
            ):
                receipts.setdefault(r[0], []).append(
                    {
                        "status": r[1],
                        "errors": orjson.loads(r[2]),
                        "sender": r[3],
                        "format": r[4],
                        "received": r[5],
                    }
                )
            inbound = dict(
                self.c.execute(
                    "SELECT i.seq, i.message_id FROM inbound i JOIN stay_events e ON e.inbound_seq = i.seq "
                    "WHERE e.stay_id = ?",
                    (stay_id,),
                ).fetchall()
            )
            record = StayRecord(
                self._stay(s), self.stay_events(stay_id), self.stay_outbound(stay_id), receipts, inbound
            )
            out.append(record)
        return out

    def compliance_items(
        self,
        stay_id: int | None = None,
        *,
        open_only: bool = False,
        kind: str | None = None,
        limit: int = 1000,
    ) -> list[ComplianceItem]:
        rows = self.c.execute(
            f"SELECT {_ITEM_COLS} FROM compliance_items WHERE (CAST(? AS BIGINT) IS NULL OR stay_id = ?) "
            "AND (? = 0 OR closed_at IS NULL) AND (CAST(? AS TEXT) IS NULL OR kind = ?) "
            "ORDER BY due_at, stay_id, rule_id, episode LIMIT ?",
            (stay_id, stay_id, 1 if open_only else 0, kind, kind, limit),
        )
        return [_item(r) for r in rows]

    def item_states(self, stay_ids: Sequence[int]) -> dict[tuple[int, str, str, str], str | None]:
        """(stay, rule, episode, kind) → closed_at of every item of these stays."""
        out: dict[tuple[int, str, str, str], str | None] = {}
        ids = list(stay_ids)
        for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.c.execute(
                "SELECT stay_id, rule_id, episode, kind, closed_at FROM compliance_items "
                f"WHERE stay_id IN ({marks})",
                chunk,
            ):
                out[(r[0], r[1], r[2], r[3])] = r[4]
        return out

    def open_item_stays(self) -> list[int]:
        return [
            r[0]
            for r in self.c.execute("SELECT DISTINCT stay_id FROM compliance_items WHERE closed_at IS NULL")
        ]

    def upsert_items(self, items: Sequence[ComplianceItem]) -> list[ComplianceItem]:
        """Record what the watcher found; returns the items that are new (first seen now).

        One row per (stay, rule, episode, kind): seeing the same miss again changes nothing, and
        an item once closed stays closed with the time it was met. An item given closed that has
        no row is recorded closed (a deadline met late before the watcher saw it), except an
        escalation, which only matters while open."""
        new = []
        for it in items:
            found = self.c.execute(
                "SELECT closed_at FROM compliance_items WHERE stay_id = ? AND rule_id = ? AND episode = ? "
                "AND kind = ?",
                (it.stay_id, it.rule_id, it.episode, it.kind),
            ).fetchone()
            if found is None:
                if it.kind == "escalated" and it.closed_at is not None:
                    continue  # an escalation that never opened needs no row
                self.c.execute(
                    f"INSERT INTO compliance_items ({_ITEM_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        it.stay_id,
                        it.rule_id,
                        it.episode,
                        it.kind,
                        it.message_type,
                        it.due_at,
                        it.opened_at,
                        it.closed_at,
                        it.done_at,
                    ),
                )
                new.append(it)
            elif found[0] is None and it.closed_at is not None:
                self.c.execute(
                    "UPDATE compliance_items SET closed_at = ?, done_at = ? "
                    "WHERE stay_id = ? AND rule_id = ? AND episode = ? AND kind = ?",
                    (it.closed_at, it.done_at, it.stay_id, it.rule_id, it.episode, it.kind),
                )
        return new

    def open_item_counts(self) -> dict[tuple[str, str], int]:
        """Open items by (kind, rule), for the metrics scrape."""
        return {
            (r[0], r[1]): int(r[2])
            for r in self.c.execute(
                "SELECT kind, rule_id, count(*) FROM compliance_items WHERE closed_at IS NULL "
                "GROUP BY kind, rule_id"
            )
        }
