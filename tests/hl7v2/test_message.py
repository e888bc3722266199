"""The fast HL7 v2 parser: separators from MSH, escapes, character sets, real-feed noise."""

from __future__ import annotations

import pytest

from adapters.hl7v2.message import Message
from adapters.problems import InputRejected
from tests.hl7_builders import adt


def test_fields_components_and_repetitions() -> None:
    msg = Message.parse(adt("A01", "C1").encode())
    assert msg.get("MSH-9.2") == "A01" and msg.get("MSH-10") == "C1"
    assert msg.get("PID-5.2") == "Kari"
    assert msg.component(msg.segment("PID"), 11, 9) == "3403"
    assert msg.raw(msg.segment("MSH"), 1) == "|" and msg.raw(msg.segment("MSH"), 2) == "^~\\&"


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_segment_separators_cr_lf_and_crlf(sep: str) -> None:
    msg = Message.parse(adt("A01", "C1", sep=sep).encode())
    assert [s[0] for s in msg.segments] == ["MSH", "EVN", "PID", "PD1", "NK1", "PV1"]


def test_escape_sequences_are_resolved_after_splitting() -> None:
    text = adt("A01", "C1", family="A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\\\X41\\")
    assert Message.parse(text.encode()).get("PID-5") == "A|B^C&D~E\\A"


def test_a_lone_backslash_is_kept_as_text() -> None:
    assert Message.parse(adt("A01", "C1", family="4\\5").encode()).get("PID-5") == "4\\5"


def test_other_separators_declared_in_msh_are_honoured() -> None:
    text = adt("A01", "C1").replace("|", "#").replace("^", "$")
    msg = Message.parse(text.replace("MSH#$~\\&", "MSH#$~\\&").encode())
    assert msg.get("PID-5.2") == "Kari"


def test_iso_8859_1_by_msh_18() -> None:
    raw = adt("A01", "C1", family="Særbø", charset="8859/1").encode("latin-1")
    assert Message.parse(raw).get("PID-5") == "Særbø"


def test_undeclared_charset_tries_utf8_then_latin1() -> None:
    assert Message.parse(adt("A01", "C1", family="Ødegård", charset="").encode()).get("PID-5") == "Ødegård"
    assert (
        Message.parse(adt("A01", "C1", family="Ødegård", charset="").encode("latin-1")).get("PID-5")
        == "Ødegård"
    )


def test_blank_lines_and_a_bom_are_noise() -> None:
    raw = "\ufeff" + adt("A01", "C1").replace("\rEVN", "\r\r\nEVN")
    assert Message.parse(raw.encode()).segment("EVN") is not None


@pytest.mark.parametrize(
    ("raw", "location"),
    [
        (b"hello world", "MSH"),
        (b"MSH|^~\\", "MSH"),
        (b"MSH|^^\\&|A|B", "MSH-2"),
        (adt("A01", "C1", charset="KLINGON").encode(), "MSH-18"),
    ],
)
def test_what_is_not_hl7_is_rejected_with_its_location(raw: bytes, location: str) -> None:
    with pytest.raises(InputRejected) as exc:
        Message.parse(raw)
    assert exc.value.problems[0].location == location
