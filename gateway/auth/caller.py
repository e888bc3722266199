"""The authenticated caller of one request: client id, scopes and the HER-ids it acts for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from gateway.auth.scopes import ADMIN


@dataclass(frozen=True, slots=True)
class Caller:
    client_id: str
    scopes: frozenset[str]
    organisation: str  # the claim values as given, for the audit log
    her_ids: frozenset[str]  # every HER-id the caller's organisations own (from the directory)

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes

    def has(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def may(self, her_id: str | None) -> bool:
        """Whether this caller acts for the party with this HER-id (an administrator acts for all)."""
        return self.admin or (her_id is not None and her_id in self.her_ids)

    def may_all(self, her_ids: Iterable[str]) -> bool:
        return all(self.may(h) for h in her_ids)


CALLER = web.RequestKey("caller", Caller)


def caller_of(request: web.Request) -> Caller:
    return request[CALLER]
