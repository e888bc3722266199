"""A worker process that validates FHIR message Bundles against the R4B models.

Protocol on stdin/stdout, one request at a time, in order: a 4-byte big-endian length and the
request body; the answer is a 4-byte length and a JSON list of [location, kind, text] problems
(empty when the Bundle is valid: R4B structure and the gateway's contract).
Run as `python -m adapters.fhir.validation_worker`.
"""

from __future__ import annotations

import struct
import sys

import orjson

from adapters.fhir.inbound import bundle_problems_of_body

HEADER = struct.Struct(">I")


def main() -> None:
    read, write = sys.stdin.buffer.read, sys.stdout.buffer
    bundle_problems_of_body(b'{"resourceType": "Bundle", "type": "message"}')  # import models now
    while True:
        head = read(HEADER.size)
        if len(head) < HEADER.size:
            return
        body = read(HEADER.unpack(head)[0])
        try:
            problems = [[p.location, p.kind, p.text] for p in bundle_problems_of_body(body)]
        except Exception as exc:  # a bug must not take the worker down with it; the sender may retry
            problems = [["$", "transient", f"validation failed internally ({type(exc).__name__})"]]
        answer = orjson.dumps(problems)
        write.write(HEADER.pack(len(answer)) + answer)
        write.flush()


if __name__ == "__main__":
    main()
