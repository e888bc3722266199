"""KITH XML for an outbound message: rendered on first need (a fetch or a delivery, never inside
the intake's unit of work), validated against the configured official schemas, stored once.

A message whose rendering fails validation is never sent: its stored status is `invalid` with the
schema errors, values redacted so no patient data leaves in them; it is counted in
`gateway_kith_renders_total{status="invalid"}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import orjson
import structlog

from adapters.kith.render import NoKithForm, render_element, serialize
from adapters.kith.view import BundleShapeError
from adapters.kith.xsd import KithSchemas
from gateway.clock import Clock, iso
from gateway.metrics import Metrics
from gateway.render.formats import KITH_XML
from gateway.store.base import RenderedRow, Store

log = structlog.get_logger("kith")
_QUOTED = re.compile(r"'([^']*)'")
_NS = re.compile(r"\{[^}]*\}")
MAX_ERRORS = 20


def redact(message: str) -> str:
    """A schema error with every quoted value replaced; element names (`'{ns}Name'`) are kept."""

    def keep_names(match: re.Match[str]) -> str:
        inner = match.group(1)
        return f"'{_NS.sub('', inner)}'" if inner.startswith("{") else "'…'"

    return _QUOTED.sub(keep_names, message)


@dataclass
class KithOutput:
    store: Store
    clock: Clock
    schemas: KithSchemas | None
    metrics: Metrics | None = None

    @classmethod
    def from_folder(
        cls, store: Store, clock: Clock, folder: Path | None, metrics: Metrics | None
    ) -> KithOutput:
        if folder is None:
            log.warning("kith_output_not_validated", reason="no kith_schema_dir configured")
            return cls(store, clock, None, metrics)
        return cls(store, clock, KithSchemas(folder), metrics)

    def render(self, message_id: str, payload: bytes) -> RenderedRow:
        """Render and validate one message (pure CPU; the caller stores the result)."""
        now = iso(self.clock.now())
        try:
            # the tree is validated as built, then serialized: the bytes sent are exactly that tree
            document = render_element(orjson.loads(payload))
        except NoKithForm as exc:
            return RenderedRow(message_id, KITH_XML, "no-form", [str(exc)], None, now)
        except BundleShapeError as exc:
            return RenderedRow(message_id, KITH_XML, "invalid", [str(exc)], None, now)
        body = serialize(document)
        if self.schemas is None:
            return RenderedRow(message_id, KITH_XML, "unvalidated", [], body, now)
        errors = self.schemas.errors(document)
        if errors:
            texts = [redact(str(e)) for e in errors[:MAX_ERRORS]]
            return RenderedRow(message_id, KITH_XML, "invalid", texts, None, now)
        return RenderedRow(message_id, KITH_XML, "valid", [], body, now)

    async def get(self, message_id: str, payload: bytes) -> RenderedRow:
        """The stored rendering, or a new one (stored before it is returned, so it is made once)."""
        found = await self.store.read(lambda r: r.rendered(message_id, KITH_XML))
        if found is not None:
            return found
        made = self.render(message_id, payload)
        if self.metrics is not None:
            self.metrics.kith_renders.labels(made.status).inc()
        if made.status == "invalid":
            log.warning("kith_invalid", message_id=message_id, errors=len(made.errors))
        return await self.store.write(lambda tx: tx.save_rendered(made))
