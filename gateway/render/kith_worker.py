"""A worker process that renders outbound messages as KITH XML and validates them against the
official schemas. Requests are FHIR message payloads; answers are `encode_rendering`'s. Framing
and the loop are gateway/workers.py's.

Run as `python -m gateway.render.kith_worker SCHEMA_DIR` ("" = no schemas: renderings unvalidated).
"""

from __future__ import annotations

import sys
from pathlib import Path

from adapters.kith.xsd import KithSchemas
from gateway.render.kith_output import encode_rendering, render_kith
from gateway.workers import serve


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else ""
    schemas = KithSchemas(Path(folder)) if folder else None

    def answer(payload: bytes) -> bytes:
        try:
            return encode_rendering(render_kith(payload, schemas))
        except Exception as exc:  # a bug must not take the worker down; the gateway renders it itself
            return encode_rendering(("failed", [type(exc).__name__], None))

    serve(answer)


if __name__ == "__main__":
    main()
