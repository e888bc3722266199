"""The real HL7 v2 messages in ../shared/corpus/hl7v2, used as they are.

None of them is Norwegian, so the gateway itself refuses each with a specific AE/AR naming why
(no fødselsnummer in PID-3, no visit number, unsupported type, a batch); without the
person-number rule the mapping turns every one that has a visit number into a valid FHIR Bundle.
"""

from __future__ import annotations

import asyncio

import pytest
from fhir.resources.R4B.bundle import Bundle

from adapters.hl7v2.framing import frame, read_frame
from adapters.hl7v2.mapping import map_message
from adapters.hl7v2.message import Message
from adapters.problems import InputRejected
from tests.conftest import SHARED, Client

CORPUS = SHARED / "corpus" / "hl7v2"
FILES = sorted(p.name for p in CORPUS.glob("*.hl7"))

# Read off each file: what stops it, structure aside from the person-number rule.
NO_VISIT_NUMBER = {
    "gcpmllp__integration_A01_v23.hl7",
    "hapi__defaultvalidation_A04_v24.hl7",
    "hapi__isempty_A08_v23_aus.hl7",
    "hapi__newpipe_A01_v24_queryservices.hl7",
    "hapi__newpipe_A01_v26_zfa.hl7",
    "hapi__newpipe_A04_v23_idx.hl7",
    "hl7apy__test_parser_A01_v25_no_trailing_cr.hl7",
    "hl7apy__test_validation_adt_a01_v26.hl7",
    "hl7dotnetcore__A01_v231_escE.hl7",
    "integrationsoup__A21_leave_of_absence_v251.hl7",
    "msfhirconverter__ADT01-28.hl7",
    "nextgenconnect__filereader_A01_v23.hl7",
    "nhapi__minimal_A04_v26.hl7",
    "nhapi__minimal_A04_v27.hl7",
}
NO_PID = {"hl7dotnetcore__A04_v27_blank_line.hl7", "hl7dotnetcore__A08_v24_only_zz1.hl7"}
UNSUPPORTED_TYPE = {
    "hapi__newpipe_A17_v231_zsegs.hl7",
    "hapi__newpipe_A31_v23_belgium_emptyPD1.hl7",
    "hl7apy__test_validation_zdt_z01_custom_v25.hl7",
}
BATCH = {"pythonhl7__sample_file1_FHS_BHS_batch_3xA04_v25.hl7"}
ENHANCED_MODE = {
    "gcpmllp__integration_A01_v23.hl7",
    "hapi__isempty_A08_v23_aus.hl7",
    "hl7dotnetcore__A08_v24_only_zz1.hl7",
}  # MSH-15 = AL
NEVER_ACKNOWLEDGE = {"msfhirconverter__ADT-A40-01.hl7"}  # MSH-15 = NE


def expected_first_problem(name: str) -> str | None:
    if name in BATCH:
        return "MSH"
    if name in UNSUPPORTED_TYPE:
        return "MSH-9"
    if name in NO_PID:
        return "PID"
    if name in NO_VISIT_NUMBER:
        return "PV1-19"
    return None


def test_the_corpus_is_all_here() -> None:
    assert len(FILES) >= 40
    assert set(FILES) >= (NO_VISIT_NUMBER | NO_PID | UNSUPPORTED_TYPE | BATCH)


@pytest.mark.parametrize("name", FILES)
def test_mapping_without_the_person_number_rule(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    expected = expected_first_problem(name)
    try:
        bundle = map_message(Message.parse(raw), require_person_id=False)
    except InputRejected as exc:
        assert exc.value if False else exc.problems[0].location == expected, [
            p.location for p in exc.problems
        ]
        return
    assert expected is None, f"expected a problem at {expected}"
    Bundle.model_validate(bundle)
    header = bundle["entry"][0]["resource"]
    assert header["eventCoding"]["code"] in {
        "A01",
        "A02",
        "A03",
        "A04",
        "A08",
        "A11",
        "A13",
        "A16",
        "A25",
        "A40",
    }


async def test_every_corpus_message_through_a_real_mllp_socket_gets_a_specific_negative_ack(
    gateway: Client,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.settings.mllp_port)
    try:
        for name in FILES:
            raw = (CORPUS / name).read_bytes()
            writer.write(frame(raw))
            await writer.drain()
            if name in NEVER_ACKNOWLEDGE:
                continue  # MSH-15 NE: the sender asked for no accept acknowledgement
            ack = (await read_frame(reader, 1 << 20) or b"").decode()
            segments = {line.split("|")[0]: line.split("|") for line in ack.split("\r") if line}
            enhanced = name in ENHANCED_MODE
            assert segments["MSA"][1] in (("CE", "CR") if enhanced else ("AE", "AR")), name
            if name not in BATCH:  # the ACK answers this message, not another one
                assert segments["MSA"][2] == Message.parse(raw).get("MSH-10"), name
            err = next(line.split("|") for line in ack.split("\r") if line.startswith("ERR"))
            location = err[2] if len(err) > 2 and err[2] else err[1]
            # the gateway's first complaint: the missing Norwegian person number, unless something
            # more basic (no PID, unsupported type, a batch) comes first
            where = expected_first_problem(name)
            where = "PID-3" if where in (None, "PV1-19") else where
            segment, _, field = where.partition("-")
            assert location.split("^")[0] == segment and (not field or location.split("^")[2] == field), (
                name,
                location,
            )
    finally:
        writer.close()
    assert await gateway.feed("8100011") == []
