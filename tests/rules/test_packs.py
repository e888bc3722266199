"""Loading rule packs: good packs compile; a bad pack is refused with the file, rule and field named,
and the rules in force stay in force."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gateway.rules.packs import LOCAL_EXAMPLE_PACK, NATIONAL_PACK, PackError, RuleBook, load_packs

GOOD_RULE = {
    "id": "LOC-TEST",
    "title": {"nb": "Test", "en": "Test"},
    "explanation": {"nb": "Forklaring", "en": "Explanation"},
    "severity": "warning",
    "applies_to": {"messages": ["EPIKRISE"]},
    "check": "%sections.followUp.exists()",
    "path": "Composition.section",
    "source": {"agreement": "Avtale punkt 1"},
}


def write_pack(folder: Path, rules: list[dict], **top: object) -> Path:
    shutil.copy(NATIONAL_PACK, folder / "national.yaml")
    path = folder / "local.yaml"
    pack = {"pack": "local", "title": {"nb": "Lokal", "en": "Local"}, "extends": "national.yaml", **top}
    pack["rules"] = rules
    path.write_text(yaml.safe_dump(pack, allow_unicode=True))
    return path


def refused(path: Path) -> str:
    with pytest.raises(PackError) as exc:
        load_packs([path])
    return str(exc.value)


def test_the_shipped_packs_load() -> None:
    """Both shipped packs compile; the local one (extending the national) adds rules and escalates."""
    national = load_packs([NATIONAL_PACK])
    local = load_packs([LOCAL_EXAMPLE_PACK])
    assert national.packs == ("national",) and local.packs == ("national", "fjordbyen")
    assert {r.id for r in national.rules} < {r.id for r in local.rules}
    assert len([r for r in local.rules if r.pack == "fjordbyen"]) >= 5
    raised = local.get("MED-NEW-REASON")
    assert raised is not None and raised.severity == "error" and raised.escalated_from == "warning"
    assert "agreement" in raised.source and "standard" in raised.source
    assert all(r.source for r in local.rules)


def test_a_good_local_pack_loads(tmp_path: Path) -> None:
    """A pack written by the rules above (the control case for every refusal below) loads."""
    rules = load_packs([write_pack(tmp_path, [GOOD_RULE])])
    assert rules.get("LOC-TEST") is not None


def test_bad_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    """Broken YAML names the file and the line."""
    path = tmp_path / "broken.yaml"
    path.write_text("pack: x\nrules:\n  - id: [unclosed\n")
    message = refused(path)
    assert message.startswith("broken.yaml: not valid YAML at line")


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    """A misspelt field names the file, the rule and the field."""
    message = refused(write_pack(tmp_path, [{**GOOD_RULE, "severty": "error"}]))
    assert "local.yaml: rule LOC-TEST: field 'severty'" in message


def test_fhirpath_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    """An expression with a syntax error is refused at load, not when the first event meets it."""
    message = refused(write_pack(tmp_path, [{**GOOD_RULE, "check": "%sections.followUp.exists("}]))
    assert "local.yaml: rule LOC-TEST: field 'check': syntax error" in message


def test_fhirpath_with_trailing_text_or_unknown_function_is_refused(tmp_path: Path) -> None:
    """The parser's silent recovery is not trusted: trailing text and unknown functions are refused."""
    assert "field 'when'" in refused(write_pack(tmp_path, [{**GOOD_RULE, "when": "%patient.exists() )"}]))
    assert "does not evaluate" in refused(
        write_pack(tmp_path, [{**GOOD_RULE, "check": "%patient.frobnicate()"}])
    )


def test_an_unknown_variable_is_refused(tmp_path: Path) -> None:
    """A %variable the gateway does not provide is named, with the ones it does."""
    message = refused(write_pack(tmp_path, [{**GOOD_RULE, "check": "%sectons.followUp.exists()"}]))
    assert "field 'check': unknown variable %sectons" in message


def test_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    """A rule id used twice (here: a local rule that would replace a national one) is refused."""
    message = refused(write_pack(tmp_path, [{**GOOD_RULE, "id": "UR-PROBLEM", "severity": "information"}]))
    assert "local.yaml: rule UR-PROBLEM: field 'id': duplicate rule id (already in national.yaml)" in message
    message = refused(write_pack(tmp_path, [GOOD_RULE, GOOD_RULE]))
    assert "rule LOC-TEST: field 'id': duplicate rule id" in message


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    """Every rule says where it comes from; without a source it is refused."""
    rule = {k: v for k, v in GOOD_RULE.items() if k != "source"}
    assert "local.yaml: rule LOC-TEST: field 'source': 'source' is a required property" in refused(
        write_pack(tmp_path, [rule])
    )
    assert "field 'source'" in refused(write_pack(tmp_path, [{**GOOD_RULE, "source": {}}]))


def test_downgrading_a_national_error_is_refused(tmp_path: Path) -> None:
    """A local pack may raise a national rule's severity but never lower an error."""
    escalate = [{"rule": "UR-PROBLEM", "severity": "warning", "source": {"agreement": "punkt 9"}}]
    message = refused(write_pack(tmp_path, [GOOD_RULE], escalate=escalate))
    assert "local.yaml: escalate UR-PROBLEM: field 'severity': a local pack may raise" in message
    unknown = [{"rule": "NO-SUCH-RULE", "severity": "error", "source": {"agreement": "punkt 9"}}]
    assert "field 'rule': no such rule" in refused(write_pack(tmp_path, [GOOD_RULE], escalate=unknown))


def test_a_rule_needs_exactly_one_of_check_and_deadline(tmp_path: Path) -> None:
    """A rule is a content check or a timing rule, not both and not neither."""
    deadline = {"after": "discharged", "within": "P1D", "expect": {"message": "EPIKRISE", "state": "sent"}}
    assert "field 'check/deadline'" in refused(write_pack(tmp_path, [{**GOOD_RULE, "deadline": deadline}]))
    rule = {k: v for k, v in GOOD_RULE.items() if k != "check"}
    assert "field 'check/deadline'" in refused(write_pack(tmp_path, [rule]))
    assert load_packs([write_pack(tmp_path, [{**rule, "deadline": deadline}])]).get("LOC-TEST") is not None


def test_a_deadline_with_a_bad_duration_or_event_is_refused(tmp_path: Path) -> None:
    """Timing rules are validated too: the duration and the timeline event."""
    rule = {k: v for k, v in GOOD_RULE.items() if k != "check"}
    bad = {"after": "discharged", "within": "24 hours", "expect": {"message": "EPIKRISE", "state": "sent"}}
    assert "rule LOC-TEST: field 'deadline.within'" in refused(
        write_pack(tmp_path, [{**rule, "deadline": bad}])
    )
    bad = {"after": "lunch", "within": "PT1H", "expect": {"message": "EPIKRISE", "state": "sent"}}
    assert "rule LOC-TEST: field 'deadline.after'" in refused(
        write_pack(tmp_path, [{**rule, "deadline": bad}])
    )


def test_a_refused_reload_keeps_the_rules_in_force(tmp_path: Path) -> None:
    """RuleBook.reload swaps in a new set only when it loads completely; otherwise the old set stays."""
    book = RuleBook(load_packs([NATIONAL_PACK]))
    before = book.current
    bad = write_pack(tmp_path, [{**GOOD_RULE, "check": "((("}])
    with pytest.raises(PackError):
        book.reload([bad])
    assert book.current is before
    book.reload([write_pack(tmp_path, [GOOD_RULE])])
    assert book.current is not before and book.current.get("LOC-TEST") is not None
