"""`gateway validate` and `gateway rules list | explain`, run as the command runs them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.cli import main
from gateway.rules.packs import LOCAL_EXAMPLE_PACK, load_packs
from tests import builders as b
from tests.hl7_builders import adt
from tests.rules.complete_stay import CompleteStay

PACKS = ["--rule-packs", str(LOCAL_EXAMPLE_PACK)]


def write_events(folder: Path, stay: CompleteStay) -> list[str]:
    paths = []
    for n, bundle in enumerate(stay.events(), 1):
        path = folder / f"{n:02d}.json"
        path.write_bytes(orjson.dumps(bundle))
        paths.append(str(path))
    return paths


def test_a_complete_stay_validates_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every event of the complete stay passes: exit 0, and the report says what would be sent."""
    assert main(["validate", *write_events(tmp_path, CompleteStay()), *PACKS]) == 0
    report = capsys.readouterr().out
    assert "5 file(s): 0 rule error(s), 0 warning(s)" in report
    assert "would send: UTSKRIVNINGSRAPPORT/N" in report and "EPIKRISE/N" in report


def test_an_incomplete_document_fails_with_a_readable_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A report without the current problem: exit 1, the rule, element, source and 'held' in the report."""
    stay = CompleteStay()
    stay.report_sections = stay.report_sections[1:]
    assert main(["validate", *write_events(tmp_path, stay), *PACKS]) == 1
    report = capsys.readouterr().out
    assert "ERROR    UR-PROBLEM" in report and "UTSKRIVNINGSRAPPORT:UR-1 (held)" in report
    assert "element: Composition.section[currentProblem]" in report
    assert "source: HIS 1148:2014 §3" in report
    assert b.FNR_HAMAR not in report and "Kari" not in report


def test_hl7_v2_goes_through_the_same_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An HL7 v2 A16 (MLLP-framed) is mapped to the inbound Bundle and its ready notice checked."""
    path = tmp_path / "a16.hl7"
    path.write_bytes(b"\x0b" + adt("A16", "C1").encode() + b"\x1c\r")
    assert main(["validate", str(path), *PACKS]) == 1
    report = capsys.readouterr().out
    assert "event A16" in report and "READY-FUNCTION" in report and "(flagged)" in report


def test_a_rejected_or_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Bundle the intake would reject is reported as rejected; a missing file as unreadable."""
    bad = b.message("A01", b.patient("12345678901"), b.encounter())
    (tmp_path / "bad.json").write_bytes(orjson.dumps(bad))
    assert main(["validate", str(tmp_path / "bad.json"), str(tmp_path / "missing.json"), *PACKS]) == 2
    report = capsys.readouterr().out
    assert "bad.json: REJECTED at intake" in report and "missing.json: cannot read" in report


def test_a_bad_pack_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command names the pack problem and exits 2."""
    pack = tmp_path / "p.yaml"
    pack.write_text("pack: x\n")
    assert main(["rules", "list", "--rule-packs", str(pack)]) == 2
    assert "p.yaml: pack: field 'title'" in capsys.readouterr().err


def test_rules_list_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    """list shows every rule of both packs one a line; explain shows one in full, in Norwegian on request."""
    assert main(["rules", "list", *PACKS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Packs: national, fjordbyen"
    assert len(lines) - 1 == len(load_packs([LOCAL_EXAMPLE_PACK]).rules)
    assert main(["rules", "explain", "MED-NEW-REASON", "--lang", "nb", *PACKS]) == 0
    text = capsys.readouterr().out
    assert text.startswith("MED-NEW-REASON: Nytt legemiddel uten begrunnelse")
    assert "severity:    error (raised from warning)" in text
    assert "source:      agreement: Tjenesteavtale 5 Fjordbyen, punkt 6.2" in text
    assert main(["rules", "explain", "TIME-EPIKRISE", *PACKS]) == 0
    assert "deadline:    EPIKRISE sent within P1D after discharged" in capsys.readouterr().out
    assert main(["rules", "explain", "NO-SUCH", *PACKS]) == 2


def test_serve_refuses_to_start_with_a_bad_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gateway serve` with a pack that does not load exits 2 naming the pack problem, before listening."""
    pack = tmp_path / "bad.yaml"
    pack.write_text("pack: x\ntitle: {nb: a, en: b}\nrules: [{id: X}]\n")
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\nrule_packs = "{pack}"\ndata_dir = "{tmp_path / "data"}"\nauth_mode = "development"\n'
    )
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "rule pack refused: bad.yaml: rule X: field 'title'" in err and "rule X: field 'id'" in err
