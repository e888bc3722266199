"""Bounded JSON decoding: the body size is capped by the HTTP layer, nesting depth here.

orjson refuses documents nested deeper than 1024 levels in C, before building them, which is
what stops a hostile deeply nested body cheaply; FHIR resources never come close to that.
"""

from __future__ import annotations

from typing import Any

import orjson

from adapters.problems import InputRejected, Problem


def loads_bounded(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise InputRejected([Problem("$", "too-large", "JSON nested too deeply")]) from None
        raise InputRejected([Problem("$", "syntax", f"not valid JSON (at byte {exc.pos})")]) from None
