"""Make produced messages comparable: generated ids and times become stable placeholders, in FHIR
JSON and in KITH XML, and differences are told by element path, not as a text diff."""

from __future__ import annotations

from typing import Any

from lxml import etree


def normalise(value: Any, ids: dict[str, str], times: dict[str, str]) -> Any:
    """Replace every generated message id with <msg-N> (and the entry fullUrls made from its first
    24 characters with <msg-N>/...), and every time the gateway stamped with <gateway-time>. `ids` must
    list each full id before its prefix, so the longer match wins."""
    if isinstance(value, dict):
        return {k: normalise(v, ids, times) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, ids, times) for v in value]
    if isinstance(value, str):
        for prefix, label in ids.items():
            if prefix in value:
                value = value.replace(prefix, label)
        return times.get(value, value)
    return value


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """JSON-aware differences, one line per differing element path."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            where = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{where}: missing (expected {_short(expected[key])})")
            elif key not in expected:
                out.append(f"{where}: unexpected {_short(actual[key])}")
            else:
                out += differences(expected[key], actual[key], where)
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = [
            line
            for n, (e, a) in enumerate(zip(expected, actual, strict=False))
            for line in differences(e, a, f"{path}[{n}]")
        ]
        if len(expected) != len(actual):
            out.append(f"{path}: {len(expected)} items expected, {len(actual)} produced")
        return out
    return [] if expected == actual else [f"{path}: expected {_short(expected)}, got {_short(actual)}"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- KITH XML outputs: the same placeholders, and differences by element path --------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)


def normalise_xml(raw: bytes, ids: dict[str, str], times: dict[str, str]) -> bytes:
    """The KITH XML with generated ids and gateway times replaced (in texts and attributes) as in
    `normalise`; the gateway writes its times there in Oslo local time, so `times` must list those
    renderings too. Pretty-printed, so an expected file reads on its own."""
    root = etree.fromstring(raw, _PARSER)
    for el in root.iter():
        if isinstance(el.tag, str):
            if el.text and el.text.strip():
                el.text = normalise(el.text, ids, times)
            for key, value in el.attrib.items():
                el.set(key, normalise(value, ids, times))
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _flat(raw: bytes) -> dict[str, str]:
    """element path (local names, 1-based position among same-named siblings) -> text and attributes."""
    root = etree.fromstring(raw, _PARSER)
    out: dict[str, str] = {}

    def walk(el: Any, path: str) -> None:
        attrs = " ".join(f"{etree.QName(k).localname}={v!r}" for k, v in sorted(el.attrib.items()))
        text = (el.text or "").strip()
        out[path] = f"{text!r} {attrs}".strip() if text else attrs
        counts: dict[str, int] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            counts[name] = counts.get(name, 0) + 1
            walk(child, f"{path}/{name}[{counts[name]}]")

    walk(root, "/" + etree.QName(root).localname)
    return out


def xml_differences(expected: bytes, actual: bytes) -> list[str]:
    """XML-aware differences: one line per element path whose text or attributes differ."""
    want, got = _flat(expected), _flat(actual)
    out = []
    for path in sorted(set(want) | set(got)):
        if path not in got:
            out.append(f"{path}: missing (expected {_short(want[path])})")
        elif path not in want:
            out.append(f"{path}: unexpected {_short(got[path])}")
        elif want[path] != got[path]:
            out.append(f"{path}: expected {_short(want[path])}, got {_short(got[path])}")
    return out
