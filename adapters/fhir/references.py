"""Resolve references inside one Bundle (fullUrl or Type/id), the way FHIR messaging does."""

from __future__ import annotations

from typing import Any

Resource = dict[str, Any]


def index_bundle(bundle: Resource) -> dict[str, Resource]:
    """Map every way an entry can be referenced (fullUrl, Type/id) to its resource."""
    index: dict[str, Resource] = {}
    for entry in bundle.get("entry") or ():
        res = entry.get("resource")
        if not isinstance(res, dict):
            continue
        if full := entry.get("fullUrl"):
            index[full] = res
            # an absolute URL fullUrl may be referenced by its Type/id tail
            parts = full.rstrip("/").split("/")
            if len(parts) >= 2:
                index.setdefault(f"{parts[-2]}/{parts[-1]}", res)
        if (rid := res.get("id")) and (rtype := res.get("resourceType")):
            index.setdefault(f"{rtype}/{rid}", res)
    return index


def resolve(index: dict[str, Resource], ref: Any) -> Resource | None:
    if isinstance(ref, dict):
        ref = ref.get("reference")
    if not isinstance(ref, str):
        return None
    return index.get(ref)


def first_identifier(resource: Resource, systems: tuple[str, ...]) -> tuple[str, str] | None:
    for ident in resource.get("identifier") or ():
        if ident.get("system") in systems and ident.get("value"):
            return ident["system"], ident["value"]
    return None
