"""A worker process that validates FHIR message Bundles against the R4B models.

Protocol on stdin/stdout, one request at a time, in order: a 4-byte big-endian length and the
request body; the answer is a 4-byte length and a JSON list of [location, kind, text] problems
(empty when the Bundle is structurally valid). Run as `python -m adapters.fhir.validation_worker`.
"""

from __future__ import annotations

import struct
import sys

import orjson

from adapters.fhir.inbound import structure_problems_of_body

HEADER = struct.Struct(">I")


def main() -> None:
    read, write = sys.stdin.buffer.read, sys.stdout.buffer
    structure_problems_of_body(b'{"resourceType": "Bundle", "type": "message"}')  # import models now
    while True:
        head = read(HEADER.size)
        if len(head) < HEADER.size:
            return
        body = read(HEADER.unpack(head)[0])
        try:
            problems = [[p.location, p.kind, p.text] for p in structure_problems_of_body(body)]
        except orjson.JSONDecodeError:
            problems = [["$", "syntax", "not valid JSON"]]
        answer = orjson.dumps(problems)
        write.write(HEADER.pack(len(answer)) + answer)
        write.flush()


if __name__ == "__main__":
    main()
