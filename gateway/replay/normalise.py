"""Make produced messages comparable: generated ids and times become stable placeholders."""

from __future__ import annotations

from typing import Any


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
