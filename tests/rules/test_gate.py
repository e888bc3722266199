"""The gate's semantics, offline: which rules run, what an escalation changes, hold versus flag."""

from __future__ import annotations

from gateway.directory.embedded import DEMO_DIRECTORY, EmbeddedDirectory, entries_from_file
from gateway.pipeline.events import event_from_bundle
from gateway.rules.gate import Checked
from gateway.rules.offline import OfflineStays
from gateway.rules.packs import LOCAL_EXAMPLE_PACK, NATIONAL_PACK, load_packs
from tests.rules.complete_stay import CompleteStay

DIRECTORY = EmbeddedDirectory(entries_from_file(DEMO_DIRECTORY))
NOW = "2026-11-24T00:00:00Z"


def run(stay: CompleteStay, pack: object) -> list[Checked]:
    offline = OfflineStays(load_packs([pack]), DIRECTORY, DIRECTORY)  # type: ignore[list-item]
    return [offline.check(event_from_bundle(bundle, NOW)) for bundle in stay.events()]


def without_reason_for_the_new_drug() -> CompleteStay:
    stay = CompleteStay()
    for med in stay.discharge_meds:
        if med["medicationCodeableConcept"]["text"] == "Apixaban":
            med.pop("statusReason")
    return stay


def test_a_national_warning_flags_the_epikrise_and_the_local_escalation_holds_it() -> None:
    """MED-NEW-REASON is a national warning (sent, tagged) and an error in the local pack (held)."""
    national = run(without_reason_for_the_new_drug(), NATIONAL_PACK)[-1]
    assert [(f.rule_id, f.severity, f.outcome) for f in national.findings] == [
        ("MED-NEW-REASON", "warning", "flagged")
    ]
    (epikrise,) = [a.notice for a in national.actions if a.notice and a.notice.message_type == "EPIKRISE"]
    assert epikrise.rule_flags == [("MED-NEW-REASON", "warning")]
    local = run(without_reason_for_the_new_drug(), LOCAL_EXAMPLE_PACK)[-1]
    # the report (held since its own event, so checked again) and the epikrise, each once
    assert sorted((f.rule_id, f.severity, f.outcome, f.subject) for f in local.findings) == [
        ("MED-NEW-REASON", "error", "held", "EPIKRISE:EPI-1"),
        ("MED-NEW-REASON", "error", "held", "UTSKRIVNINGSRAPPORT:UR-1"),
    ]
    assert not [a for a in local.actions if a.notice and a.notice.message_type == "EPIKRISE"]
    assert sorted(local.held) == [
        "EPIKRISE:EPI-1|8200011",
        "UTSKRIVNINGSRAPPORT:UR-1|8100011",
        "UTSKRIVNINGSRAPPORT:UR-1|8200011",
    ]


def test_only_rules_that_apply_run() -> None:
    """Each event runs its event rules and the rules of the messages it plans, nothing else."""
    rules = load_packs([LOCAL_EXAMPLE_PACK])
    a01, a16, a03, report, epikrise = run(CompleteStay(), LOCAL_EXAMPLE_PACK)
    assert a01.evaluated == len(rules.by_event["A01"]) + len(rules.by_message["LOG_INNLAGT"]) == 2
    assert a16.evaluated == len(rules.by_message["LOG_UTSKRIVNINGSKLAR"])
    # A03: EVT-DISPOSITION, the LOG_UTSKREVET rules and the three MED rules on the medication
    # list, once for both its recipients
    assert a03.evaluated == 1 + len(rules.by_message["LOG_UTSKREVET"]) + len(
        rules.by_message["LEGEMIDDELLISTE"]
    )
    assert report.evaluated == len(rules.by_message["UTSKRIVNINGSRAPPORT"])
    assert epikrise.evaluated == len(rules.by_message["EPIKRISE"])


def test_a_failing_logistics_notice_is_flagged_not_held() -> None:
    """LOG_UTSKREVET breaking a local error (late Friday discharge) is sent, tagged with the rule."""
    stay = CompleteStay()
    stay.discharge_time = "2026-11-06T16:00:00+01:00"
    a03 = run(stay, LOCAL_EXAMPLE_PACK)[2]
    (notice,) = [a.notice for a in a03.actions if a.notice and a.notice.message_type == "LOG_UTSKREVET"]
    assert notice.rule_flags == [("LOC-LATE-DISCHARGE", "error")]
    assert a03.held == {}
