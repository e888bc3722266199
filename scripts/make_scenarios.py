"""Write the scenario folders' input files from the test builders (run once; the files are the
fixtures, readable on their own). Then `gateway replay fixtures/messages --update-expected`
records what the gateway produces, to be read and checked by a person before committing."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import yaml
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.kith.apprec import ReceiptError, render_apprec
from adapters.kith.msghead import Header, Party
from tests import builders as b
from tests.hl7_builders import adt, mdm_t02
from tests.kith.kith_docs import dialog_answer
from tests.rules.complete_stay import completed

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "messages"


def mid(scenario: int, n: int) -> str:
    return f"5c3e0000-0000-4000-8000-{scenario:06d}{n:06d}"


def write(
    name: str, description: str, files: list[tuple[str, object]], spec: dict[str, object] | None = None
) -> None:
    """A scenario folder: its inputs, README.md, and `scenario.yaml` when it needs rule packs or
    arrival times of its own (gateway/replay)."""
    folder = ROOT / name
    folder.mkdir(parents=True, exist_ok=True)
    if spec:
        (folder / "scenario.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    for old in folder.glob("*.json"):
        old.unlink()
    for old in [*folder.glob("*.hl7"), *folder.glob("*.xml")]:
        old.unlink()
    for filename, content in files:
        if filename.endswith(".xml"):  # one element a line: readable on its own
            tree = etree.fromstring(str(content).encode())
            for name in tree.iter("{*}SoftwareName"):
                name.text = "Kommunens fagsystem (scenario)"
            content = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()
        data = (
            content.encode("latin-1" if "8859/1" in content else "utf-8")
            if isinstance(content, str)
            else (orjson.dumps(content, option=orjson.OPT_INDENT_2) + b"\n")
        )
        (folder / filename).write_bytes(data)
    (folder / "README.md").write_text(description.strip() + "\n", encoding="utf-8")


def fhir(
    code: str,
    *resources: dict,
    scenario: int,
    n: int,
    at: str,
    focus: dict | None = None,
    complete: bool = True,
) -> dict:
    """One FHIR event. Unless a scenario is about missing content (`complete=False`), what the
    national rule pack asks of a handover is filled in (next of kin, the four ready assessments,
    where the patient goes, the documents' mandatory sections), as a careful ward would send it."""
    if complete:
        resources = completed(code, list(resources))
    bundle = b.message(code, *resources, focus=focus, message_id=mid(scenario, n), event_time=at)
    bundle["id"] = mid(scenario, n).replace("5c3e", "b0b0", 1)  # stable, so regenerating changes nothing
    return bundle


T = {
    "adm": "2026-11-02T10:00:00+01:00",
    "ready": "2026-11-05T09:00:00+01:00",
    "cancel": "2026-11-05T15:00:00+01:00",
    "ready2": "2026-11-06T09:00:00+01:00",
    "out": "2026-11-07T11:00:00+01:00",
}


def complete_files(folder: Path) -> None:
    """Complete a hand-written scenario's FHIR files in place, as `fhir()` completes generated ones."""
    for path in sorted(folder.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        code = bundle["entry"][0]["resource"]["eventCoding"]["code"]
        resources = [e["resource"] for e in bundle["entry"][2:]]
        for res in completed(code, resources)[len(resources) :]:
            url = f"urn:uuid:{res['resourceType'].lower()}-{res['id']}"
            bundle["entry"].append({"fullUrl": url, "resource": res})
        path.write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n")


def main() -> None:
    complete_files(ROOT / "discharge-home-with-medication-changes")
    write(
        "ready-cancelled-ready-again",
        """
# Ready for discharge, cancelled, ready again

The physician declares the patient ready (A16), the patient worsens the same afternoon and the
ready status is withdrawn (A25, avmelding), and two days later the patient is ready again.
Expected: the allocation office (8100012) gets LOG_UTSKRIVNINGSKLAR, LOG_AVMELDING and a second
LOG_UTSKRIVNINGSKLAR, each its own conversation; home nursing gets LOG_INNLAGT only.
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter(), scenario=2, n=1, at=T["adm"])),
            (
                "02-ready.json",
                fhir("A16", b.patient(), b.encounter(ready=T["ready"]), scenario=2, n=2, at=T["ready"]),
            ),
            (
                "03-no-longer-ready.json",
                fhir("A25", b.patient(), b.encounter(), scenario=2, n=3, at=T["cancel"]),
            ),
            (
                "04-ready-again.json",
                fhir("A16", b.patient(), b.encounter(ready=T["ready2"]), scenario=2, n=4, at=T["ready2"]),
            ),
        ],
    )

    write(
        "death-in-hospital",
        """
# Death in hospital

The patient dies on the ward; the discharge (A03) carries discharge disposition `exp`.
Expected: LOG_DOD to home nursing (8100011) and to the GP (8200011); no LOG_UTSKREVET.
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter(), scenario=3, n=1, at=T["adm"])),
            (
                "02-died.json",
                fhir(
                    "A03",
                    b.patient(),
                    b.encounter(end=T["out"], disposition="exp"),
                    scenario=3,
                    n=2,
                    at=T["out"],
                ),
            ),
        ],
    )

    write(
        "admission-cancelled-hl7-a11",
        """
# Admission cancelled (HL7 v2 A11)

An admission registered by mistake is cancelled. Expected: the LOG_INNLAGT already sent to home
nursing is cancelled (C, same conversation), and so is the GP's notat.
""",
        [
            ("01-admit.hl7", adt("A01", "S4-1", visit="V4")),
            ("02-cancel-admit.hl7", adt("A11", "S4-2", visit="V4", evn_time="20261102120000")),
        ],
    )

    write(
        "discharge-cancelled-hl7-a13",
        """
# Discharge cancelled (HL7 v2 A13)

The patient is registered as discharged, then the discharge is cancelled: the patient stays.
Expected: LOG_UTSKREVET to home nursing is followed by its cancellation (C), and so is the GP's
discharge notat. (HL7 v2 carries no "municipal services expected" flag, so no 24-hour notice;
the admission's answer says so as information.) The A03 names no destination (PV1-37) or
disposition (PV1-36), so LOG_UTSKREVET goes out flagged with LUT-DESTINATION (error) and
EVT-DISPOSITION (warning).
""",
        [
            ("01-admit.hl7", adt("A01", "S5-1", visit="V5")),
            (
                "02-discharge.hl7",
                adt("A03", "S5-2", visit="V5", evn_time="20261107110000", discharge="20261107110000"),
            ),
            ("03-cancel-discharge.hl7", adt("A13", "S5-3", visit="V5", evn_time="20261107120000")),
        ],
    )

    write(
        "leave-of-absence-hl7-a21-a22",
        """
# Leave of absence (HL7 v2 A21, A22)

The patient goes home for the weekend and comes back. Expected: admission notices only; leave
produces no municipal notice.
""",
        [
            ("01-admit.hl7", adt("A01", "S6-1", visit="V6")),
            ("02-leave.hl7", adt("A21", "S6-2", visit="V6", evn_time="20261106160000")),
            ("03-back.hl7", adt("A22", "S6-3", visit="V6", evn_time="20261108180000")),
        ],
    )

    write(
        "d-nummer-patient",
        """
# Patient with a D-nummer

A patient without a fødselsnummer, identified by D-nummer, living in Gjøvik (3407), GP at Gjøvik
medisinske senter (from the fastlegeregister). Expected: Gjøvik's services and that GP are told.
""",
        [
            (
                "01-admit.json",
                fhir("A01", b.patient(b.DNR, "3407"), b.encounter(), scenario=7, n=1, at=T["adm"]),
            )
        ],
    )

    write(
        "no-gp-registered",
        """
# No GP registered

The patient has no GP on the record and none in the fastlegeregister. Expected: accepted, with a
warning naming Patient.generalPractitioner; the municipality is told as usual, no GP message.
""",
        [("01-admit.json", fhir("A01", b.patient(b.FNR_NO_GP), b.encounter(), scenario=8, n=1, at=T["adm"]))],
    )

    write(
        "gp-in-another-municipality",
        """
# GP in another municipality

The patient lives in Hamar (3403) but the GP on the record practises in Ringsaker (HER 8200021).
Expected: Hamar's services and the Ringsaker GP are told.
""",
        [
            (
                "01-admit.json",
                fhir("A01", b.patient(gp_her="8200021"), b.encounter(), scenario=9, n=1, at=T["adm"]),
            )
        ],
    )

    write(
        "living-in-one-staying-in-another",
        """
# Lives in one municipality, stays in another

Registered in Hamar (3403), staying with family in Ringsaker (3411) — a temporary address.
Since 2019 the municipality where the patient stays is the one to notify. Expected: Ringsaker's
home nursing (8100021) gets LOG_INNLAGT; Hamar gets nothing.
""",
        [
            (
                "01-admit.json",
                fhir(
                    "A01", b.patient(temp_municipality="3411"), b.encounter(), scenario=10, n=1, at=T["adm"]
                ),
            )
        ],
    )

    admit = fhir("A01", b.patient(), b.encounter(), scenario=11, n=1, at=T["adm"])
    write(
        "duplicate-events",
        """
# The same event twice

The EPJ resends an admission it already sent (same MessageHeader.id). Expected: both answered ok,
one LOG_INNLAGT only.
""",
        [("01-admit.json", admit), ("02-admit-again.json", admit)],
    )

    write(
        "out-of-order-events",
        """
# Events out of order

The discharge reaches the gateway before the ready notice that preceded it clinically.
Expected: the stay ends discharged; the ready notice still goes out, placed by its event time.
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter(), scenario=12, n=1, at=T["adm"])),
            (
                "02-discharge.json",
                fhir("A03", b.patient(), b.encounter(end=T["out"]), scenario=12, n=2, at=T["out"]),
            ),
            (
                "03-ready-arrives-late.json",
                fhir("A16", b.patient(), b.encounter(ready=T["ready"]), scenario=12, n=3, at=T["ready"]),
            ),
        ],
    )

    enc = b.encounter()
    doc_n = b.composition("UR-13", sections={"AA": "Pneumoni.", "OP": "Kontroll om 2 uker."})
    doc_m = b.composition("UR-13", status="amended", sections={"AA": "Pneumoni.", "OP": "Kontroll om 1 uke."})
    doc_c = b.composition(
        "UR-13", status="entered-in-error", sections={"AA": "Pneumoni.", "OP": "Kontroll om 1 uke."}
    )
    write(
        "document-correction-and-cancellation",
        """
# A document corrected (M) and then cancelled (C)

The nurses' discharge report is sent, corrected (the control appointment moved), and then
withdrawn as written in error. Expected: UTSKRIVNINGSRAPPORT N, M, C to home nursing (and the
GP's copy), one conversation, each change pointing to the one before.
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), enc, scenario=13, n=1, at=T["adm"])),
            (
                "02-report.json",
                fhir("T02", b.patient(), enc, doc_n, focus=doc_n, scenario=13, n=2, at=T["out"]),
            ),
            (
                "03-report-corrected.json",
                fhir(
                    "T02",
                    b.patient(),
                    enc,
                    doc_m,
                    focus=doc_m,
                    scenario=13,
                    n=3,
                    at="2026-11-07T12:00:00+01:00",
                ),
            ),
            (
                "04-report-withdrawn.json",
                fhir(
                    "T02",
                    b.patient(),
                    enc,
                    doc_c,
                    focus=doc_c,
                    scenario=13,
                    n=4,
                    at="2026-11-07T13:00:00+01:00",
                ),
            ),
        ],
    )

    write(
        "non-ascii-names-hl7-latin1",
        """
# Non-ASCII names (HL7 v2 in ISO-8859-1)

A name with æ, ø and å sent as ISO-8859-1 (MSH-18 8859/1). Expected: the name arrives intact in
the outbound messages.
""",
        [
            (
                "01-admit.hl7",
                adt("A01", "S14-1", visit="V14", family="Ødegård-Særbø", given="Åse", charset="8859/1"),
            )
        ],
    )

    meds_in = [
        b.medication(f"N02BE{n:02d}", f"Legemiddel {n}", "1 tablett x 2", category="inpatient")
        for n in range(1, 41)
    ]
    meds_out = [
        b.medication(
            f"N02BE{n:02d}",
            f"Legemiddel {n}",
            "1 tablett x 3" if n % 5 == 0 else "1 tablett x 2",
            reason="Dosejustert" if n % 5 == 0 else None,
        )
        for n in range(1, 39)
    ]
    write(
        "long-medication-list-40-drugs",
        """
# A very long medication list (40 drugs)

Forty drugs at admission; at discharge eight have a changed dose (with a reason) and two are no
longer listed (stopped, reason unknown — the medication-reconciliation rule will flag them).
Expected: a LEGEMIDDELLISTE to home nursing and GP with 40 entries, each with its change status.
""",
        [
            (
                "01-admit.json",
                fhir("A01", b.patient(), b.encounter(), *meds_in, scenario=15, n=1, at=T["adm"]),
            ),
            (
                "02-discharge.json",
                fhir("A03", b.patient(), b.encounter(end=T["out"]), *meds_out, scenario=15, n=2, at=T["out"]),
            ),
        ],
    )

    write(
        "epikrise-to-gp-hl7-mdm",
        """
# Epikrise as an HL7 v2 MDM^T02

The physician's discharge summary arrives as MDM^T02 with sections by code list 8311 and a
follow-up plan (OP), but without coded diagnoses, the medication, the course of the stay or who
takes over responsibility. Expected: the national pack's EPI-* rules fail (errors, listed in
the ACK's ERR segments), so the epikrise is **held**: the GP gets the admission notat, and the
epikrise only when the EPJ sends a complete one (see the rules in docs/RULES.md).
""",
        [
            ("01-admit.hl7", adt("A01", "S16-1", visit="V16")),
            (
                "02-epikrise.hl7",
                mdm_t02(
                    "S16-2",
                    "EPI-16",
                    visit="V16",
                    doc_type="EPIKRISE",
                    sections={"AA": "Hjertesvikt.", "VU": "Stabil.", "OP": "Kontroll hos fastlege."},
                ),
            ),
        ],
    )

    write(
        "unknown-municipality",
        """
# Patient from a municipality not in the directory

The patient's address is in a municipality this helsefellesskap has no entry for (9999).
Expected: accepted with a warning naming Patient.address; only the GP is told.
""",
        [
            (
                "01-admit.json",
                fhir("A01", b.patient(municipality="9999"), b.encounter(), scenario=17, n=1, at=T["adm"]),
            )
        ],
    )

    write(
        "invalid-fodselsnummer-rejected",
        """
# An invalid fødselsnummer

The EPJ sends an admission whose fødselsnummer fails the check digits, over FHIR and over HL7 v2.
Expected: both refused (fatal-error / AE naming the field); nothing produced.
""",
        [
            (
                "01-admit.json",
                fhir("A01", b.patient("12034512344"), b.encounter(), scenario=18, n=1, at=T["adm"]),
            ),
            ("02-admit.hl7", adt("A01", "S18-2", person="12034512344")),
        ],
    )

    write(
        "discharge-to-nursing-home",
        """
# Discharge to a nursing home

An 88-year-old with a hip fracture cannot go home; the municipality offers a short-term place at
a nursing home (sykehjem). The discharge (A03) carries discharge disposition 11 (code list 8408,
Sykehjem/aldershjem/helsehus), and the nurses' discharge report follows the patient.
Expected: home nursing (8100011), the municipality's receiving service, gets LOG_INNLAGT,
LOG_UTSKREVET with UtskrevetTil 11 and the Utskrivningsrapport; the allocation office (8100012)
gets the 24-hour notice and LOG_UTSKRIVNINGSKLAR; the GP gets the notats and a report copy.
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter("V19"), scenario=19, n=1, at=T["adm"])),
            (
                "02-ready.json",
                fhir(
                    "A16", b.patient(), b.encounter("V19", ready=T["ready"]), scenario=19, n=2, at=T["ready"]
                ),
            ),
            (
                "03-discharge.json",
                fhir(
                    "A03",
                    b.patient(),
                    b.encounter("V19", end=T["out"], disposition="11"),
                    scenario=19,
                    n=3,
                    at=T["out"],
                ),
            ),
            (
                "04-utskrivningsrapport.json",
                fhir(
                    "T02",
                    b.patient(),
                    report := b.composition(
                        "R19",
                        sections={
                            "AA": "Innlagt etter fall i hjemmet med lårhalsbrudd, operert.",
                            "OP": "Mobilisering med rullator. Kontroll ortopedisk poliklinikk om 6 uker.",
                        },
                        date=T["out"],
                    ),
                    b.encounter("V19"),
                    focus=report,
                    scenario=19,
                    n=4,
                    at=T["out"],
                ),
            ),
        ],
    )

    hospital2 = "MSH|^~\\&|DIPS|8000002^8000002^HER|"
    write(
        "transfer-between-hospitals",
        """
# Transfer between hospitals (HL7 v2)

The patient is admitted at Sykehuset Innlandet (HER 8000001), then transferred for specialised
treatment to Oslo universitetssykehus (HER 8000002): the first hospital discharges (A03 with
discharge disposition 3, "annen helseinstitusjon innen spesialisthelsetjenesten", code list
8408) and the second admits (A01) under its own visit number.
Expected: two stays. The municipality hears of both admissions and of the discharge from the
first hospital (UtskrevetTil 3, so it knows the patient is not coming home yet); the GP gets a
notat for each.
""",
        [
            ("01-admit.hl7", adt("A01", "S20-1", visit="V20")),
            (
                "02-discharge-to-other-hospital.hl7",
                adt(
                    "A03",
                    "S20-2",
                    visit="V20",
                    evn_time="20261104080000",
                    discharge="20261104080000",
                    disposition="3",
                ),
            ),
            (
                "03-admit-other-hospital.hl7",
                adt("A01", "S20-3", visit="OUS-77", evn_time="20261104110000").replace(
                    "MSH|^~\\&|DIPS|8000001^8000001^HER|", hospital2
                ),
            ),
        ],
    )

    write(
        "rejecting-apprec-from-municipality",
        """
# The municipality rejects a notice (AppRec Avvist)

The allocation office's system cannot match the patient of the ready-for-discharge notice to
anyone it knows and answers with an application receipt that rejects it (status 2 Avvist,
error E35 "Pasienten finnes ikke i mottakers system", HIS 80415).
`03-apprec-avvist.xml` refers to the notice as `{{message 8100012 LOG_UTSKRIVNINGSKLAR}}`; the
replay fills in the id the gateway gave it.
Expected: the notice's receipt status is `rejected` with E35, visible at
`/messages/{id}/receipts`; nothing is sent again by the gateway on its own (a person must act).
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter("V21"), scenario=21, n=1, at=T["adm"])),
            (
                "02-ready.json",
                fhir(
                    "A16", b.patient(), b.encounter("V21", ready=T["ready"]), scenario=21, n=2, at=T["ready"]
                ),
            ),
            (
                "03-apprec-avvist.xml",
                render_apprec(
                    Header(
                        "LOG_UTSKRIVNINGSKLAR",
                        "Melding om utskrivningsklar pasient",
                        "2026-11-05T09:00:05",
                        "{{message 8100012 LOG_UTSKRIVNINGSKLAR}}",
                        None,
                        None,
                        sender=Party("Sykehuset Innlandet HF", "8000001", "HER"),
                        receiver=Party(
                            "Hamar kommune", "8100001", "HER", "Tildelingskontoret Hamar", "8100012", "HER"
                        ),
                    ),
                    "2",
                    [ReceiptError("E35", "Pasienten finnes ikke i mottakers system")],
                    "a1b2c3d4-0000-4000-8000-000000000021",
                    "2026-11-05T09:12:00",
                ).decode(),
            ),
        ],
    )

    write(
        "municipality-cannot-take-patient-three-days",
        """
# The municipality cannot take the patient for three days (waiting days)

The patient is ready for discharge on 5 November 09:00 (A16) and the allocation office gets the
notice the same day. The municipality answers at once with a Dialogmelding: it cannot take the
patient now, only from 8 November (topic code `KAN_IKKE_MOTTA`, date 2026-11-08; the convention
is in docs/KITH-INBOUND.md). The patient waits and is discharged on 8 November (A03).
`03-answer-cannot-receive.xml` refers to the notice as `{{message 8100012 LOG_UTSKRIVNINGSKLAR}}`.
Expected: the answer is on the stay's timeline; 5, 6 and 7 November are waiting days the
municipality pays for (notices given on time, municipality could not receive).
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter("V22"), scenario=22, n=1, at=T["adm"])),
            (
                "02-ready.json",
                fhir(
                    "A16", b.patient(), b.encounter("V22", ready=T["ready"]), scenario=22, n=2, at=T["ready"]
                ),
            ),
            (
                "03-answer-cannot-receive.xml",
                dialog_answer(
                    msg_id="d1a10000-0000-4000-8000-000000000022",
                    refers_to="{{message 8100012 LOG_UTSKRIVNINGSKLAR}}",
                    person=b.FNR_HAMAR,
                    topic="KAN_IKKE_MOTTA",
                    date="2026-11-08",
                    gen_date="2026-11-05T11:30:00",
                ).decode(),
            ),
            (
                "04-discharge.json",
                fhir(
                    "A03",
                    b.patient(),
                    b.encounter("V22", end="2026-11-08T12:00:00+01:00"),
                    scenario=22,
                    n=4,
                    at="2026-11-08T12:00:00+01:00",
                ),
            ),
        ],
    )

    partial = b.composition(
        "UR-23",
        sections={"AA": "Innlagt med pneumoni.", "OP": "Kontroll hos fastlege om 2 uker."},
        date=T["out"],
    )
    full = b.composition(
        "UR-23",
        status="amended",
        sections={"AA": "Innlagt med pneumoni.", "OP": "Kontroll hos fastlege om 2 uker."},
        date="2026-11-07T14:00:00+01:00",
    )
    write(
        "incomplete-utskrivningsrapport-held-then-completed",
        """
# An incomplete Utskrivningsrapport is held, then completed

The ward sends the nurses' discharge report on the discharge day with only the reason for the
stay and the follow-up plan: medication information, critical information, next of kin, the
responsible unit and the rest of HIS 1148 §3 are missing. Three hours later the complete report
follows (same document id, amended).
Expected: the first report breaks the national pack's UR-* rules (errors), so it is **held**:
home nursing and the GP get nothing yet, and the answer lists each failed rule. The completed
report releases it: one UTSKRIVNINGSRAPPORT N to home nursing and the GP's copy. The logistics
notices (LOG_UTSKREVET) go out on time meanwhile; they are never held.
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter("V23"), scenario=23, n=1, at=T["adm"])),
            (
                "02-discharge.json",
                fhir(
                    "A03",
                    b.patient(),
                    b.encounter("V23", end=T["out"]),
                    scenario=23,
                    n=2,
                    at=T["out"],
                ),
            ),
            (
                "03-report-incomplete.json",
                fhir(
                    "T02",
                    b.patient(),
                    b.encounter("V23", end=T["out"]),
                    partial,
                    focus=partial,
                    scenario=23,
                    n=3,
                    at=T["out"],
                    complete=False,
                ),
            ),
            (
                "04-report-completed.json",
                fhir(
                    "T02",
                    b.patient(),
                    b.encounter("V23", end=T["out"]),
                    full,
                    focus=full,
                    scenario=23,
                    n=4,
                    at="2026-11-07T14:00:00+01:00",
                ),
            ),
        ],
    )

    write(
        "late-24-hour-notice",
        """
# The 24-hour notice is late, so the waiting days are not billable

The patient is admitted on Monday 2 November 10:00, and municipal services will be needed, but
the admission reaches the gateway only on Tuesday 3 November 16:00 (the ward registered it late;
`scenario.yaml` gives the arrival). The notice of admitted patient (HELSEOPPL_SOKNAD) therefore
goes 30 hours after admission, past the regulation's 24 hours. The patient is ready on
Thursday 5 November; the municipality cannot take the patient until 9 November; discharge on
9 November.
Expected: the deadline TIME-ADMISSION-NOTICE is missed; the ready notice is on time; the stay's
waiting days are counted but **not billable**, because the 24-hour notice was late
(docs/COMPLIANCE.md).
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter("V24"), scenario=24, n=1, at=T["adm"])),
            (
                "02-ready.json",
                fhir(
                    "A16", b.patient(), b.encounter("V24", ready=T["ready"]), scenario=24, n=2, at=T["ready"]
                ),
            ),
            (
                "03-answer-cannot-receive.xml",
                dialog_answer(
                    msg_id="d1a10000-0000-4000-8000-000000000024",
                    refers_to="{{message 8100012 LOG_UTSKRIVNINGSKLAR}}",
                    person=b.FNR_HAMAR,
                    topic="KAN_IKKE_MOTTA",
                    date="2026-11-09",
                    gen_date="2026-11-05T10:30:00",
                ).decode(),
            ),
            (
                "04-discharge.json",
                fhir(
                    "A03",
                    b.patient(),
                    b.encounter("V24", end="2026-11-09T12:00:00+01:00"),
                    scenario=24,
                    n=4,
                    at="2026-11-09T12:00:00+01:00",
                ),
            ),
        ],
        spec={"arrivals": {"01-admit.json": "2026-11-03T16:00:00+01:00"}},
    )

    friday = "2026-11-06T16:30:00+01:00"  # a Friday afternoon
    write(
        "friday-afternoon-discharge-local-pack",
        """
# A Friday-afternoon discharge under the local agreement

Fjordbyen's cooperation agreement (the example local pack, `schemas/rules/local-example.yaml`,
rule LOC-LATE-DISCHARGE) says no discharge to home nursing after 15:00 on a Friday or before a
public holiday without an agreement recorded with the municipality. The patient is discharged
home on Friday 6 November at 16:30 and no agreement is recorded. `scenario.yaml` plays the
scenario under the local pack.
Expected: LOG_UTSKREVET still goes to home nursing (a logistics notice is never held) but is
flagged with LOC-LATE-DISCHARGE, and the answer to the A03 lists that error.
""",
        [
            ("01-admit.json", fhir("A01", b.patient(), b.encounter("V25"), scenario=25, n=1, at=T["adm"])),
            (
                "02-discharge-friday-afternoon.json",
                fhir("A03", b.patient(), b.encounter("V25", end=friday), scenario=25, n=2, at=friday),
            ),
        ],
        spec={"rule_packs": ["local-example.yaml"]},
    )


if __name__ == "__main__":
    main()
