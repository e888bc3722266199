"""Every scenario in fixtures/messages replays to exactly what it expects, through `gateway replay`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

from tests.conftest import current_database_url

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "messages"


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    # the replay's own gateways run on the store of this test run: on PostgreSQL, a new database
    # per scenario on the test's server
    server = current_database_url()
    engine = ["--database-server", server] if server and "--target" not in args else []
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "replay", *args, *engine],
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


def test_an_answer_naming_a_message_that_was_never_made_fails_that_scenario(tmp_path: Path) -> None:
    """A `{{message HER TYPE}}` placeholder with no such message is reported, not sent blindly."""
    scenario = tmp_path / "answer-too-early"
    scenario.mkdir()
    source = FIXTURES / "rejecting-apprec-from-municipality"
    shutil.copy(source / "01-admit.json", scenario / "01-admit.json")
    shutil.copy(source / "03-apprec-avvist.xml", scenario / "02-apprec-avvist.xml")  # before any A16
    result = replay(str(scenario), "--update-expected")
    assert result.returncode == 1
    assert "{{message 8100012 LOG_UTSKRIVNINGSKLAR}}: no such message was made before this input" in (
        result.stdout
    )


def test_a_running_gateway_is_replayed_over_http_and_mllp(tmp_path: Path) -> None:
    """`--target` with `--mllp` plays HL7 v2 files over a real MLLP socket, the rest over HTTP."""
    from benchmarks._server import dev_auth, free_port, start_gateway, wait_until_up

    port, mllp = free_port(), free_port()
    proc = start_gateway(tmp_path / "data", port, mllp)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc)
        result = replay(
            str(FIXTURES / "discharge-cancelled-hl7-a13"),
            str(FIXTURES / "municipality-cannot-take-patient-three-days"),
            "--target",
            f"http://127.0.0.1:{port}",
            "--mllp",
            f"127.0.0.1:{mllp}",
            "--token",
            dev_auth(tmp_path / "data")["Authorization"].removeprefix("Bearer "),
        )
        metrics_request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics", headers=dev_auth(tmp_path / "data")
        )
        with urllib.request.urlopen(metrics_request) as resp:
            metrics = resp.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert result.returncode == 0, result.stdout
    assert "2 passed, 0 failed" in result.stdout
    mllp_events = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("gateway_events_total{") and 'channel="hl7v2-mllp"' in line
    ]
    assert sum(mllp_events) == 3  # the A13 scenario's three HL7 v2 files came over MLLP


def test_a_kith_xml_difference_is_told_by_element_path(tmp_path: Path) -> None:
    """A recipient that prefers KITH XML has XML expected outputs, compared element by element."""
    scenario = tmp_path / "changed-xml"
    shutil.copytree(FIXTURES / "living-in-one-staying-in-another", scenario)
    out = scenario / "expected" / "8100021" / "01-LOG_INNLAGT.xml"
    out.write_text(out.read_text(encoding="utf-8").replace("Ringsaker kommune", "Hamar kommune"), "utf-8")
    result = replay(str(scenario))
    assert result.returncode == 1
    assert (
        "8100021/01-LOG_INNLAGT.xml: /MsgHead/MsgInfo[1]/Receiver[1]/Organisation[1]/OrganisationName[1]: "
        "expected \"'Hamar kommune'\", got \"'Ringsaker kommune'\""
    ) in result.stdout


def test_a_running_gateway_can_be_replayed_against_again(tmp_path: Path) -> None:
    """Against a running gateway the inputs go as new messages about new stays, so the same
    scenarios replay as expected a second time (not answered as duplicates of the first)."""
    from benchmarks._server import dev_auth, free_port, start_gateway, wait_until_up

    port, mllp = free_port(), free_port()
    proc = start_gateway(tmp_path / "data", port, mllp)
    token = dev_auth(tmp_path / "data")["Authorization"].removeprefix("Bearer ")
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc)
        args = [
            str(FIXTURES / "document-correction-and-cancellation"),
            str(FIXTURES / "rejecting-apprec-from-municipality"),
            "--target",
            f"http://127.0.0.1:{port}",
            "--token",
            token,
        ]
        first, second = replay(*args), replay(*args)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert first.returncode == 0, first.stdout
    assert second.returncode == 0, second.stdout
