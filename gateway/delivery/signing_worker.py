"""A worker process that makes the gateway's detached CMS signatures (gateway/protection/cms.py).

A request is a message's plaintext; the answer is its signature, DER in base64. `cryptography`
holds the GIL while it signs (measured: two threads signing took longer than one), so a process
of its own is what takes the signing off the event loop. Framing and the loop are
gateway/workers.py's.

Run as `python -m gateway.delivery.signing_worker CERT_FILE KEY_FILE` (PEM).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from gateway.protection import cms
from gateway.protection.keys import load_identity
from gateway.workers import serve


def main() -> None:
    identity = load_identity(Path(sys.argv[1]), Path(sys.argv[2]))

    def answer(plaintext: bytes) -> bytes:
        return base64.b64encode(cms.sign_detached(plaintext, identity.certificate, identity.key))

    serve(answer)


if __name__ == "__main__":
    main()
