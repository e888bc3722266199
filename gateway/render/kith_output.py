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
from gateway.workers import WorkerPool, WorkerUnavailable

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


Rendering = tuple[str, list[str], bytes | None]  # status, errors, body


def render_kith(payload: bytes, schemas: KithSchemas | None) -> Rendering:
    """Render and validate one message (pure CPU: here, or in a render worker process)."""
    try:
        # the tree is validated as built, then serialized: the bytes sent are exactly that tree
        document = render_element(orjson.loads(payload))
    except NoKithForm as exc:
        return "no-form", [str(exc)], None
    except BundleShapeError as exc:
        return "invalid", [str(exc)], None
    body = serialize(document)
    if schemas is None:
        return "unvalidated", [], body
    errors = schemas.errors(document)
    if errors:
        return "invalid", [redact(str(e)) for e in errors[:MAX_ERRORS]], None
    return "valid", [], body


def encode_rendering(made: Rendering) -> bytes:
    """A worker's answer: status and errors as one JSON line (orjson never writes a raw newline),
    then the XML bytes exactly as rendered."""
    status, errors, body = made
    return orjson.dumps([status, errors, body is not None]) + b"\n" + (body or b"")


def decode_rendering(data: bytes) -> Rendering:
    head, _, body = data.partition(b"\n")
    status, errors, has_body = orjson.loads(head)
    return status, errors, body if has_body else None


class RenderPool(WorkerPool[Rendering]):
    """KITH XML rendering in worker processes: about a fifth of the event loop's time under
    end-to-end load went to it (docs/PERFORMANCE.md)."""

    def __init__(self, size: int, schema_dir: Path | None) -> None:
        super().__init__(size, "gateway.render.kith_worker", decode_rendering, (str(schema_dir or ""),))


@dataclass
class KithOutput:
    store: Store
    clock: Clock
    schemas: KithSchemas | None
    metrics: Metrics | None = None
    pool: RenderPool | None = None  # None: rendered on the event loop

    @classmethod
    def from_folder(
        cls, store: Store, clock: Clock, folder: Path | None, metrics: Metrics | None
    ) -> KithOutput:
        if folder is None:
            log.warning("kith_output_not_validated", reason="no kith_schema_dir configured")
            return cls(store, clock, None, metrics)
        return cls(store, clock, KithSchemas(folder), metrics)

    def render(self, message_id: str, payload: bytes) -> RenderedRow:
        """Render and validate one message here (the caller stores the result)."""
        return RenderedRow(message_id, KITH_XML, *render_kith(payload, self.schemas), iso(self.clock.now()))

    async def _render(self, message_id: str, payload: bytes) -> RenderedRow:
        if self.pool is not None:
            try:
                made = await self.pool.ask(payload)
            except WorkerUnavailable:  # the worker died: render here rather than fail the delivery
                log.warning("kith_render_worker_unavailable")
            else:
                if made[0] != "failed":  # a bug in the worker: rendered here, where it shows
                    return RenderedRow(message_id, KITH_XML, *made, iso(self.clock.now()))
        return self.render(message_id, payload)

    async def get(self, message_id: str, payload: bytes) -> RenderedRow:
        """The stored rendering, or a new one (stored before it is returned, so it is made once)."""
        found = await self.store.read(lambda r: r.rendered(message_id, KITH_XML))
        if found is not None:
            return found
        made = await self._render(message_id, payload)
        if self.metrics is not None:
            self.metrics.kith_renders.labels(made.status).inc()
        if made.status == "invalid":
            log.warning("kith_invalid", message_id=message_id, errors=len(made.errors))
        return await self.store.write(lambda tx: tx.save_rendered(made))
