"""KITH XML renderings of the Bundles the real pipeline produced, validated by the official XSDs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from adapters.fhir import codes
from adapters.kith.render import NoKithForm, render_element, render_kith
from adapters.kith.xsd import KithSchemas
from tests import builders as b
from tests.conftest import SHARED, Client, ext, header
from tests.kith.scenarios import ALLOCATION, GP, NURSING, Bundle, all_outbound, event, kind, status

NS = {
    "mh": "http://www.kith.no/xmlstds/msghead/2006-05-24",
    "po": "http://www.kith.no/xmlstds/po/poKomponent/2012-04-01",
    "p1": "http://www.kith.no/xmlstds/po/Pasientlogistikk/2012-04-01",
    "fk1": "http://www.kith.no/xmlstds/felleskomponent1",
    "epj3": "http://www.kith.no/xmlstds/epj/epj3/2008-02-20",
    "epj2": "http://www.kith.no/xmlstds/epj/epj2/2008-02-20",
    "epi": "http://www.kith.no/xmlstds/epikrise/2012-02-15",
    "dia": "http://www.kith.no/xmlstds/dialog/2013-01-23",
}
LOGISTICS = ("LOG_INNLAGT", "LOG_UTSKRIVNINGSKLAR", "LOG_AVMELDING", "LOG_UTSKREVET", "LOG_DOD")
# Every (type, dispatch status) the pipeline produces for the scenarios. Pasientlogistikk is N or C only
# (HISD 1154 §3.1): a corrected logistics notice is a C of the old one and a new N.
EXPECTED = {
    (t, s) for t in ("HELSEOPPL_SOKNAD", "UTSKRIVNINGSRAPPORT", "EPIKRISE", "DIALOG_NOTAT") for s in "NMC"
} | {(t, s) for t in LOGISTICS for s in "NC"}

SCHEMAS = KithSchemas(SHARED / "standards/kith/xsd")


@pytest.fixture
async def outbound(gateway: Client) -> list[Bundle]:
    return [m for m in await all_outbound(gateway) if kind(m) != "LEGEMIDDELLISTE"]


def of(bundles: list[Bundle], message_type: str, dispatch: str) -> list[Bundle]:
    return [m for m in bundles if kind(m) == message_type and status(m) == dispatch]


def xp(doc: etree._Element, path: str) -> list:
    return doc.xpath(path, namespaces=NS)


def oslo(instant: str) -> str:
    """Independent of the renderer: an instant as Europe/Oslo wall-clock time without offset."""
    parsed = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return parsed.astimezone(ZoneInfo("Europe/Oslo")).replace(tzinfo=None).isoformat()


async def test_every_message_type_with_n_m_and_c_validates_against_the_official_schemas(
    outbound: list[Bundle],
) -> None:
    """Each type and dispatch status the pipeline produces renders to XML with zero XSD errors."""
    assert {(kind(m), status(m)) for m in outbound} == EXPECTED
    for bundle in outbound:
        raw = render_kith(bundle)
        doc = etree.fromstring(raw)
        assert SCHEMAS.errors(doc) == [], (kind(bundle), status(bundle))
        assert raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


async def test_msghead_ids_times_and_conversation_refs(outbound: list[Bundle]) -> None:
    """MsgId is the message id, GenDate is Oslo time, M and C point at the first and the previous."""
    for bundle in (m for m in outbound if kind(m) != "EPIKRISE"):
        doc = render_element(bundle)
        h = header(bundle)
        assert xp(doc, "string(mh:MsgInfo/mh:MsgId)") == h["id"]
        assert xp(doc, "string(mh:MsgInfo/mh:Type/@V)") == kind(bundle)
        assert xp(doc, "string(mh:MsgInfo/mh:GenDate)") == oslo(bundle["timestamp"])
        refs = xp(doc, "mh:MsgInfo/mh:ConversationRef")
        if status(bundle) == "N":
            assert refs == []
        else:
            assert xp(refs[0], "string(mh:RefToConversation)") == ext(h, codes.EXT_CONVERSATION_REF)
            assert xp(refs[0], "string(mh:RefToParent)") == ext(h, codes.EXT_PARENT_REF)
            assert ext(h, codes.EXT_PARENT_REF) != h["id"]


async def test_service_based_addressing_and_patient_identity(outbound: list[Bundle]) -> None:
    """Receivers are municipality then service, or practice then GP; the patient by fødselsnummer."""
    nursing = render_element(of(outbound, "LOG_INNLAGT", "N")[0])
    org = xp(nursing, "mh:MsgInfo/mh:Receiver/mh:Organisation")[0]
    assert xp(org, "string(mh:Ident/mh:Id)") == "8100001"  # Hamar kommune (demo directory)
    assert xp(org, "string(mh:Organisation/mh:Ident/mh:Id)") == NURSING
    assert xp(org, "string(mh:Organisation/mh:Ident/mh:TypeId/@V)") == "HER"
    sender = xp(nursing, "mh:MsgInfo/mh:Sender/mh:Organisation")[0]
    assert xp(sender, "string(mh:Ident/mh:Id)") == b.HOSPITAL_HER
    assert xp(sender, "string(mh:Organisation/mh:Ident/mh:Id)") == b.DEPARTMENT_HER
    assert xp(nursing, "string(mh:MsgInfo/mh:Patient/mh:Ident/mh:Id)") == b.FNR_HAMAR
    assert xp(nursing, "string(mh:MsgInfo/mh:Patient/mh:Ident/mh:TypeId/@V)") == "FNR"
    assert xp(nursing, "string(mh:MsgInfo/mh:Patient/mh:Ident/mh:TypeId/@S)") == "2.16.578.1.12.4.1.1.8116"

    allocation = render_element(of(outbound, "LOG_UTSKRIVNINGSKLAR", "N")[0])
    assert (
        xp(allocation, "string(mh:MsgInfo/mh:Receiver/mh:Organisation/mh:Organisation/mh:Ident/mh:Id)")
        == ALLOCATION
    )

    notat = render_element(of(outbound, "DIALOG_NOTAT", "N")[0])
    practice = xp(notat, "mh:MsgInfo/mh:Receiver/mh:Organisation")[0]
    assert xp(practice, "string(mh:Ident/mh:Id)") == "8200001"  # Hamar legesenter
    gp_ids = {
        (xp(i, "string(mh:TypeId/@V)"), xp(i, "string(mh:Id)"))
        for i in xp(practice, "mh:HealthcareProfessional/mh:Ident")
    }
    assert gp_ids == {("HER", GP), ("HPR", "9100001")}


async def test_d_nummer_patient_is_identified_as_dnr(gateway: Client) -> None:
    """A patient with a D-nummer gets TypeId DNR (code list 8116), not FNR."""
    admit = b.message("A01", b.patient(b.DNR), b.encounter("VD"), event_time="2026-11-02T10:00:00+01:00")
    await gateway.post_event(admit)
    innlagt = next(m for m in await gateway.messages(NURSING) if kind(m) == "LOG_INNLAGT")
    doc = render_element(innlagt)
    assert xp(doc, "string(mh:MsgInfo/mh:Patient/mh:Ident/mh:Id)") == b.DNR
    assert xp(doc, "string(mh:MsgInfo/mh:Patient/mh:Ident/mh:TypeId/@V)") == "DNR"


async def test_logistics_event_codes_times_and_dispatch_status(outbound: list[Bundle]) -> None:
    """TidsfestetHendelse carries the 9121 code and the Oslo time; Forsendelsesstatus is N/M/C."""

    def events(bundle: Bundle) -> list[tuple[str, str, str]]:
        doc = render_element(bundle)
        assert xp(doc, "string(//po:Forsendelsesstatus/@V)") == status(bundle)
        return [
            (
                xp(e, "string(po:Hendelsekode/@V)"),
                xp(e, "string(po:TidspunktForHendelse/@V)"),
                xp(e, "string(po:Anslag)"),
            )
            for e in xp(doc, "//p1:Pasientlogistikk/*[last()]/po:TidsfestetHendelse")
        ]

    assert events(of(outbound, "LOG_INNLAGT", "N")[0]) == [("1", "2026-11-02T10:00:00", "false")]
    assert events(of(outbound, "LOG_INNLAGT", "N")[1]) == [("1", "2026-11-02T09:30:00", "false")]
    assert events(of(outbound, "LOG_UTSKRIVNINGSKLAR", "N")[1]) == [
        ("1", "2026-11-02T09:30:00", "false"),
        ("3", "2026-11-05T10:00:00", "false"),
    ]
    avmelding = events(of(outbound, "LOG_AVMELDING", "N")[0])
    assert avmelding[0] == ("1", "2026-11-02T09:30:00", "false")
    assert avmelding[-1] == ("4", "2026-11-05T15:00:00", "false")
    assert events(of(outbound, "LOG_UTSKREVET", "N")[0]) == [("2", "2026-11-07T11:00:00", "false")]
    assert events(of(outbound, "LOG_DOD", "N")[1]) == [("13", "2026-11-07T12:00:00", "false")]
    # where the patient went: home (8408=1) first, then corrected to a nursing home (8408=11)
    home, corrected = (render_element(m) for m in of(outbound, "LOG_UTSKREVET", "N"))
    assert xp(home, "string(//po:UtskrevetTil/po:UtTil/@V)") == "1"
    assert xp(corrected, "string(//po:UtskrevetTil/po:UtTil/@V)") == "11"
    assert xp(corrected, "string(//po:UtskrevetTil/po:Uttilstand/@V)") == "1"
    # the physician who declared the patient ready travels with the notice
    ready = render_element(of(outbound, "LOG_UTSKRIVNINGSKLAR", "N")[0])
    assert xp(ready, "string(//po:KontaktpersonHelsepersonell//fk1:Ident/fk1:Id)") == "9144889"


async def test_a_corrected_logistics_notice_is_cancelled_and_sent_anew(outbound: list[Bundle]) -> None:
    """HISD 1154: no M for Pasientlogistikk; the C points at the first notice, the new N starts afresh."""
    assert not [m for m in outbound if kind(m) in LOGISTICS and status(m) == "M"]
    first, corrected = of(outbound, "LOG_INNLAGT", "N")[:2]
    cancel = next(
        m
        for m in of(outbound, "LOG_INNLAGT", "C")
        if ext(header(m), codes.EXT_PARENT_REF) == header(first)["id"]
    )
    doc = render_element(cancel)
    assert xp(doc, "string(//po:Forsendelsesstatus/@V)") == "C"
    assert xp(doc, "string(mh:MsgInfo/mh:ConversationRef/mh:RefToParent)") == header(first)["id"]
    assert xp(render_element(corrected), "mh:MsgInfo/mh:ConversationRef") == []


async def test_helseopplysninger_is_a_varsel_first_and_an_update_after(outbound: list[Bundle]) -> None:
    """Content type 9140: 1 (varsel om innlagt pasient) on N, 2 (oppdaterte opplysninger) on M."""
    for dispatch, content in (("N", "1"), ("M", "2")):
        doc = render_element(of(outbound, "HELSEOPPL_SOKNAD", dispatch)[0])
        assert xp(doc, "string(//po:TypeInnholdIMelding/po:TypeInnhold/@V)") == content


async def test_utskrivningsrapport_medications_in_the_epj_component(outbound: list[Bundle]) -> None:
    """Each discharge drug is an epj3:Legemiddelinfo; changes and reasons are visible, stops coded 9104=2."""
    doc = render_element(of(outbound, "UTSKRIVNINGSRAPPORT", "N")[0])
    assert xp(doc, "string(//po:TypeInnholdIMelding/po:TypeInnhold/@V)") == "11"
    drugs = {
        xp(m, "string(.//epj3:Navn)"): (
            xp(m, "string(.//epj3:StatusTilForskrivningen/@V)"),
            xp(m, "string(.//epj3:Merknad)"),
            xp(m, "string(.//epj3:Atc/@V)"),
            xp(m, "string(.//epj3:Bruk/@V)"),
        )
        for m in xp(doc, "//epj3:Legemiddelinfo")
    }
    assert drugs == {
        "Ramipril": ("", "Endret: Blodtrykk over mål", "C09AA05", "1"),
        "Paracetamol": ("", "", "N02BE01", "1"),
        "Acetylsalisylsyre": ("2", "Seponert: Blødning", "B01AC06", ""),
        "Apixaban": ("", "Nytt legemiddel: Atrieflimmer", "B01AF02", "1"),
    }
    headings = xp(doc, "//epj2:Journaltekst/epj2:Overskriftskode/@V")
    assert headings == ["AAI", "OP"]
    plans = {
        s: xp(
            render_element(of(outbound, "UTSKRIVNINGSRAPPORT", s)[0]),
            "string(//epj2:Journaltekst[2]/epj2:Notat)",
        )
        for s in "NM"
    }
    assert plans == {"N": "Kontroll om 2 uker.", "M": "Kontroll om 1 uke."}


async def test_epikrise_for_the_gp(outbound: list[Bundle]) -> None:
    """Epikrise v1.2: one document id across N/M/C, diagnoses H/B, drug changes with reasons, OP plan."""
    versions = {s: render_element(of(outbound, "EPIKRISE", s)[0]) for s in "NMC"}
    assert {s: xp(d, "string(epi:ServRprt/epi:ServProvId)") for s, d in versions.items()} == dict.fromkeys(
        "NMC", "EPI-1"
    )
    assert {s: xp(d, "string(epi:ServRprt/epi:ServType/@V)") for s, d in versions.items()} == {
        "N": "N",
        "M": "M",
        "C": "C",
    }
    new = versions["N"]
    assert xp(new, "string(epi:MsgId)") == header(of(outbound, "EPIKRISE", "N")[0])["id"]
    diagnoses = [
        (xp(i, "string(.//epi:Concept/@V)"), xp(i, "string(.//epi:Concept/@S)"), xp(i, "string(epi:Type/@V)"))
        for i in xp(new, "//epi:InfItem[epi:Observation]")
    ]
    assert diagnoses == [("J189", "2.16.578.1.12.4.1.1.7110", "H"), ("I48", "2.16.578.1.12.4.1.1.7110", "B")]
    meds = {
        xp(m, "string(epi:DrugId/@DN)"): (xp(m, "string(epi:Status/@V)"), xp(m, "string(epi:Comment)"))
        for m in xp(new, "//epi:Medication")
    }
    assert meds == {
        "Ramipril": ("3", "Endret dosering: Blodtrykk over mål"),
        "Paracetamol": ("3", ""),
        "Acetylsalisylsyre": ("4", "Seponert: Blødning"),
        "Apixaban": ("3", "Nytt legemiddel: Atrieflimmer"),
    }
    plan = "//epi:Comment[epi:Heading/@V='OP']//*[local-name()='p']/text()"
    assert xp(versions["N"], plan) == ["Kontroll hos fastlege."]
    assert xp(versions["M"], plan) == ["Kontroll om 1 uke."]
    assert [h for h in xp(new, "//epi:Comment/epi:Heading/@V")] == ["AI", "FO", "OP"]
    assert xp(new, "string(//epi:ServProvider//epi:Inst/epi:Id)") == b.HOSPITAL_HER
    assert xp(new, "string(//epi:ServProvider//epi:Dept/epi:Id)") == b.DEPARTMENT_HER
    assert xp(new, "string(//epi:Requester//epi:Inst/epi:Id)") == "8200001"
    assert xp(new, "string(//epi:Requester//epi:HCPerson/epi:Id)") == GP
    assert xp(new, "string(//epi:Patient/epi:OffId)") == b.FNR_HAMAR
    assert xp(new, "string(//epi:ReportedEvent/epi:StartDateTime/@V)") == "2026-11-02T10:00:00"


async def test_gp_admission_and_discharge_notats(outbound: list[Bundle]) -> None:
    """The GP's Dialogmelding notat says what happened, where, and when in Oslo time."""
    texts = [
        xp(render_element(m), "string(//dia:TekstNotatInnhold)")
        for m in outbound
        if kind(m) == "DIALOG_NOTAT" and status(m) != "C"
    ]
    assert "Pasienten ble innlagt ved Medisinsk avdeling Hamar 02.11.2026 kl. 10:00." in texts
    assert any(
        t.startswith("Pasienten ble utskrevet fra Medisinsk avdeling Hamar 07.11.2026 kl. 11:00.")
        for t in texts
    )
    assert any("Legemidler er endret" in t for t in texts)


async def test_the_medication_list_has_no_kith_form_of_its_own(gateway: Client) -> None:
    """LEGEMIDDELLISTE is FHIR only: rendering it to KITH is refused with a specific error."""
    bundles = [m for m in await all_outbound(gateway) if kind(m) == "LEGEMIDDELLISTE"]
    assert bundles
    with pytest.raises(NoKithForm, match="LEGEMIDDELLISTE has no KITH XML form"):
        render_kith(bundles[0])


async def test_rendering_the_same_bundle_twice_gives_the_same_bytes(gateway: Client) -> None:
    """Rendering is a pure function: the same Bundle renders to the same bytes."""
    await gateway.post_event(event("A01", "2026-11-02T10:00:00+01:00", visit="VX"))
    bundle = (await gateway.messages(NURSING))[0]
    assert render_kith(bundle) == render_kith(bundle)
