"""A worker process that validates FHIR message Bundles against the R4B models.

A request is one mode byte, then a message body: `c` checks the R4B structure and then the
gateway's contract, `s` the structure alone (the contract was checked before the event was stored;
gateway/intake/inbox.py). Each answer is a JSON list of [location, kind, text] problems, empty
when the Bundle is valid. Framing and the loop are gateway/workers.py's. Run as
`python -m gateway.intake.validation_worker`.
"""

from __future__ import annotations

import orjson

from adapters.fhir.inbound import bundle_problems_of_body, structure_problems_of_body

CHECKS = {b"c": bundle_problems_of_body, b"s": structure_problems_of_body}


def answer(request: bytes) -> bytes:
    try:
        problems = [[p.location, p.kind, p.text] for p in CHECKS[request[:1]](request[1:])]
    except Exception as exc:  # a bug must not take the worker down with it; the sender may retry
        problems = [["$", "transient", f"validation failed internally ({type(exc).__name__})"]]
    return orjson.dumps(problems)


def main() -> None:
    from gateway.workers import serve

    bundle_problems_of_body(b'{"resourceType": "Bundle", "type": "message"}')  # import models now
    serve(answer)


if __name__ == "__main__":
    main()
