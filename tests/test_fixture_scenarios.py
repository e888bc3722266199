"""Every scenario in fixtures/messages replays to exactly what it expects, through `gateway replay`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "messages"


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "replay", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_whole_scenario_set_replays_as_expected(tmp_path: Path) -> None:
    result = replay(str(FIXTURES), "--junit", str(tmp_path / "junit.xml"))
    assert result.returncode == 0, result.stdout
    scenarios = [p for p in FIXTURES.iterdir() if p.is_dir()]
    assert f"{len(scenarios)} passed, 0 failed" in result.stdout
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == str(len(scenarios)) and suite.get("failures") == "0"


def test_a_difference_is_reported_readably_and_fails_the_run(tmp_path: Path) -> None:
    scenario = tmp_path / "changed"
    shutil.copytree(FIXTURES / "discharge-home-with-medication-changes", scenario)
    expected = scenario / "expected.yaml"
    expected.write_text(expected.read_text().replace("LOG_UTSKREVET/N", "LOG_DOD/N"))
    out = scenario / "expected" / "8100011" / "01-LOG_INNLAGT.json"
    out.write_text(out.read_text().replace('"Medisinsk sengepost 3"', '"Kirurgisk sengepost 1"'))
    result = replay(str(scenario), "--junit", str(tmp_path / "junit.xml"))
    assert result.returncode == 1
    assert "changed: DIFFERS" in result.stdout
    assert "summary messages.8100011[1]: expected 'LOG_DOD/N', got 'LOG_UTSKREVET/N'" in result.stdout
    assert (
        ".resource.location[0].location.display: expected 'Kirurgisk sengepost 1', "
        "got 'Medisinsk sengepost 3'"
    ) in result.stdout
    failure = ElementTree.parse(tmp_path / "junit.xml").getroot().find("testcase/failure")
    assert failure is not None and "LOG_DOD" in (failure.text or "")


def test_repeat_replays_every_scenario_again_as_new_stays() -> None:
    """With fresh identifiers every round is accepted again (not answered as a duplicate)."""
    inputs = [p for p in FIXTURES.glob("*/*") if p.suffix in (".json", ".hl7")]
    refused_once = 2  # invalid-fodselsnummer-rejected refuses both its inputs, every round
    result = replay(str(FIXTURES), "--repeat", "3")
    assert result.returncode == 0
    summary = result.stdout.strip().splitlines()[-1]
    assert f"{3 * len(inputs)} events" in summary
    assert f"{3 * (len(inputs) - refused_once)} accepted, {3 * refused_once} refused" in summary
    assert "events/s" in summary
