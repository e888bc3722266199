"""A fast HL7 v2 parser: one split per level, driven by the separators the message declares.

hl7apy's full parse costs milliseconds per ADT message because it builds a validated object
tree; the gateway needs a dozen fields, so it splits segments and fields once and splits
components, repetitions and subcomponents only for the fields it reads. Escape sequences are
resolved last, per component, so an escaped separator never splits anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.problems import InputRejected, Problem

# MSH-18 values → Python codecs (HL7 table 0211; the ones Norwegian and European feeds send).
CHARSETS = {
    "": None,
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "8859/2": "iso8859-2",
    "WINDOWS-1252": "cp1252",
}
SEGMENT_SPLIT = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Separators:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


def _decode(raw: bytes) -> str:
    """Decode by MSH-18, read from the raw bytes before decoding (it is always ASCII)."""
    start = raw.find(b"MSH")
    if start < 0:
        raise InputRejected([Problem("MSH", "syntax", "no MSH segment")])
    end = min((i for i in (raw.find(b"\r", start), raw.find(b"\n", start)) if i >= 0), default=len(raw))
    header = raw[start:end]
    sep = header[3:4] or b"|"
    fields = header.split(sep)
    charset = fields[17].split(b"~")[0].decode("ascii", "replace").strip().upper() if len(fields) > 17 else ""
    codec = CHARSETS.get(charset, "unknown")
    if codec == "unknown":
        raise InputRejected([Problem("MSH-18", "unsupported", "character set not supported")])
    if codec is None:  # not declared: UTF-8 if it decodes, else the Western European default
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        raise InputRejected(
            [Problem("MSH-18", "invalid", "bytes do not match the declared character set")]
        ) from None


class Message:
    """A parsed message: segments as lists of raw (still escaped) field strings.

    Field numbers follow HL7: `seg[1]` is the first field after the segment id; for MSH,
    `seg[1]` is the field separator itself and `seg[2]` the encoding characters.
    """

    def __init__(self, text: str) -> None:
        text = text.lstrip("\ufeff \t\r\n")
        if text.startswith(("FHS", "BHS")):
            raise InputRejected(
                [Problem("MSH", "unsupported", "batches (FHS/BHS) are not taken: send one message per frame")]
            )
        if not text.startswith("MSH") or len(text) < 8:
            raise InputRejected([Problem("MSH", "syntax", "message must start with an MSH segment")])
        fs = text[3]
        enc = text[4:8]
        if fs.isalnum() or len(set(fs + enc)) != 5 or any(c.isalnum() or c.isspace() for c in enc):
            raise InputRejected(
                [Problem("MSH-2", "syntax", "field separator and encoding characters are invalid")]
            )
        self.sep = Separators(fs, enc[0], enc[1], enc[2], enc[3])
        self.segments: list[list[str]] = []
        for line in SEGMENT_SPLIT.split(text):
            line = line.strip("\ufeff")
            if not line.strip():
                continue  # blank lines and trailing separators are noise real feeds send
            fields = line.split(fs)
            if fields[0] == "MSH":
                fields.insert(1, fs)  # MSH-1 is the separator itself
            self.segments.append(fields)
        self._index: dict[str, list[list[str]]] = {}
        for seg in self.segments:
            self._index.setdefault(seg[0], []).append(seg)

    @classmethod
    def parse(cls, raw: bytes) -> Message:
        return cls(_decode(raw))

    # --- access -----------------------------------------------------------------------------

    def segment(self, name: str) -> list[str] | None:
        found = self._index.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[list[str]]:
        return self._index.get(name, [])

    def raw(self, seg: list[str] | None, field: int) -> str:
        if seg is None or field >= len(seg):
            return ""
        return seg[field]

    def repetitions(self, seg: list[str] | None, field: int) -> list[str]:
        value = self.raw(seg, field)
        if not value:
            return []
        if seg is not None and seg[0] == "MSH" and field == 2:
            return [value]
        return value.split(self.sep.repetition)

    def components(self, value: str) -> list[str]:
        """Components of one repetition, unescaped; subcomponents stay joined by '&'."""
        return [self.unescape(c) for c in value.split(self.sep.component)]

    def component(self, seg: list[str] | None, field: int, comp: int = 1, rep: int = 0) -> str:
        reps = self.repetitions(seg, field)
        if rep >= len(reps):
            return ""
        parts = reps[rep].split(self.sep.component)
        if comp > len(parts):
            return ""
        return self.unescape(parts[comp - 1].split(self.sep.subcomponent)[0] if comp > 0 else parts[0])

    def get(self, path: str) -> str:
        """'PID-3' (first component of the first repetition), 'PID-3.4', 'MSH-9.2'."""
        name, _, rest = path.partition("-")
        field, _, comp = rest.partition(".")
        return self.component(self.segment(name), int(field), int(comp or 1))

    # --- escapes ----------------------------------------------------------------------------

    def unescape(self, value: str) -> str:
        esc = self.sep.escape
        if esc not in value:
            return value.strip()
        out: list[str] = []
        i, n = 0, len(value)
        while i < n:
            ch = value[i]
            end = value.find(esc, i + 1) if ch == esc else -1
            if ch != esc or end < 0:
                out.append(ch)  # a lone escape character is kept as text (real feeds send them)
                i += 1
                continue
            out.append(self._escape_value(value[i + 1 : end], value[i : end + 1]))
            i = end + 1
        return "".join(out).strip()

    def _escape_value(self, code: str, original: str) -> str:
        s = self.sep
        simple = {
            "F": s.field,
            "S": s.component,
            "T": s.subcomponent,
            "R": s.repetition,
            "E": s.escape,
            ".br": "\n",
        }
        if code in simple:
            return simple[code]
        if code.startswith("X") and len(code) > 1:
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return original
        if code[:1] in ("H", "N"):  # highlighting on/off: formatting only
            return ""
        return original
