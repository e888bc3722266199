"""Classic hostile XML for the doors that take XML (FHIR XML, KITH XML)."""

from __future__ import annotations


def billion_laughs(doctype: str, body: str) -> bytes:
    """Ten levels of entities, each ten of the one below (10^9 "lol"s if expanded), used as
    `&lol9;` in `body`, under a DOCTYPE named `doctype`."""
    levels = ['<!ENTITY lol "lol">']
    for n in range(1, 10):
        below = f"&lol{n - 1};" if n > 1 else "&lol;"
        levels.append(f'<!ENTITY lol{n} "{below * 10}">')
    entities = "".join(f"\n {level}" for level in levels)
    return f'<?xml version="1.0"?>\n<!DOCTYPE {doctype} [{entities}\n]>\n{body}'.encode()
