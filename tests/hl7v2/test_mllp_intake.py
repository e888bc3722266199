"""HL7 v2 over real MLLP and HTTP sockets into the same stay model and notices as FHIR."""

from __future__ import annotations

import asyncio

import orjson

from adapters.fhir import codes
from adapters.hl7v2.framing import frame, read_frame
from tests.conftest import Client, ext, header
from tests.hl7_builders import adt, mdm_t02

NURSING, ALLOCATION, GP = "8100011", "8100012", "8200011"


class Mllp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, gateway: Client) -> Mllp:
        return cls(*await asyncio.open_connection("127.0.0.1", gateway.settings.mllp_port))

    async def send(self, message: str | bytes) -> dict[str, list[str]]:
        self.writer.write(frame(message.encode() if isinstance(message, str) else message))
        await self.writer.drain()
        return parse_ack(await read_frame(self.reader, 1 << 20) or b"")

    def close(self) -> None:
        self.writer.close()


def parse_ack(ack: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in ack.decode().split("\r"):
        if line:
            out.setdefault(line.split("|")[0], line.split("|"))
    return out


async def test_a01_over_mllp_is_acknowledged_and_routed_like_fhir(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    ack = await mllp.send(adt("A01", "CTRL-1"))
    mllp.close()
    assert ack["MSA"][1:3] == ["AA", "CTRL-1"]
    assert ack["MSH"][8].startswith("ACK^A01") and ack["MSH"][11] == "2.5"
    assert ack["MSH"][2:6] == ["GATEWAY", "HF", "DIPS", "8000001^8000001^HER"]  # sender and receiver swapped
    assert [e["messageType"] for e in await gateway.feed(NURSING)] == ["LOG_INNLAGT"]
    assert [e["messageType"] for e in await gateway.feed(GP)] == ["DIALOG_NOTAT"]


async def test_the_same_control_id_again_gets_the_same_ack_and_no_second_processing(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    first = await mllp.send(adt("A01", "CTRL-1"))
    again = await mllp.send(adt("A01", "CTRL-1"))
    mllp.close()
    assert first == again
    assert len(await gateway.feed(NURSING)) == 1


async def test_a_whole_stay_over_mllp(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    for trigger, ctrl, time in (
        ("A01", "S1", "20261102100000"),
        ("A16", "S2", "20261105090000"),
        ("A25", "S3", "20261105150000"),
        ("A16", "S4", "20261106090000"),
    ):
        assert (await mllp.send(adt(trigger, ctrl, evn_time=time)))["MSA"][1] == "AA"
    ack = await mllp.send(adt("A03", "S5", evn_time="20261107110000", discharge="20261107110000"))
    assert ack["MSA"][1] == "AA"
    assert (await mllp.send(mdm_t02("S6", "DOC-77")))["MSA"][1] == "AA"
    mllp.close()
    # HL7 v2 has no field saying municipal services are expected, so no 24-hour notice (see
    # docs/HL7V2-MAPPING.md); everything else is as from FHIR
    assert [e["messageType"] for e in await gateway.feed(ALLOCATION)] == [
        "LOG_UTSKRIVNINGSKLAR",
        "LOG_AVMELDING",
        "LOG_UTSKRIVNINGSKLAR",
    ]
    assert [e["messageType"] for e in await gateway.feed(NURSING)] == [
        "LOG_INNLAGT",
        "LOG_UTSKREVET",
        "UTSKRIVNINGSRAPPORT",
    ]
    ready = next(
        m
        for m in await gateway.messages(ALLOCATION)
        if header(m)["eventCoding"]["code"] == "LOG_UTSKRIVNINGSKLAR"
    )
    encounter = next(e["resource"] for e in ready["entry"] if e["resource"]["resourceType"] == "Encounter")
    assert ext(encounter, codes.EXT_READY_DECIDED_BY)["identifier"] == {
        "system": codes.HPR,
        "value": "9144889",
    }
    assert ext(header(ready), codes.EXT_EVENT_TIME) == "2026-11-05T08:00:00Z"


async def test_death_by_discharge_disposition_20(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    await mllp.send(adt("A01", "D1"))
    await mllp.send(adt("A03", "D2", disposition="20", discharge="20261107110000", evn_time="20261107110000"))
    mllp.close()
    assert "LOG_DOD" in [e["messageType"] for e in await gateway.feed(NURSING)]


async def test_bad_content_gets_ae_naming_the_field_and_nothing_is_stored(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    bad_fnr = await mllp.send(adt("A01", "B1", person="12034512344"))
    no_visit = await mllp.send(adt("A01", "B2", visit=""))
    unsupported = await mllp.send(adt("A01", "B3").replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01"))
    ok = await mllp.send(adt("A01", "B4"))
    mllp.close()
    assert (
        bad_fnr["MSA"][1] == "AE" and bad_fnr["ERR"][2] == "PID^1^3" and bad_fnr["ERR"][3].startswith("102^")
    )
    assert "12034512344" not in "|".join(bad_fnr["ERR"] + bad_fnr["MSA"])
    assert (
        no_visit["MSA"][1] == "AE"
        and no_visit["ERR"][2] == "PV1^1^19"
        and no_visit["ERR"][3].startswith("101^")
    )
    assert unsupported["MSA"][1] == "AR" and unsupported["ERR"][3].startswith("200^")
    assert ok["MSA"][1] == "AA"
    assert len(await gateway.feed(NURSING)) == 1


async def test_version_2_3_gets_err_1_and_iso_8859_1_names_work(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    ack = await mllp.send(adt("A01", "V23", version="2.3", person="12034512344"))
    latin = await mllp.send(adt("A01", "L1", family="Særbø", charset="8859/1").encode("latin-1"))
    mllp.close()
    assert ack["ERR"][1].startswith("PID^1^3^102&")
    assert latin["MSA"][1] == "AA"
    patient = next(
        e["resource"]
        for e in (await gateway.messages(NURSING))[0]["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    assert patient["name"][0]["family"] == "Særbø"


async def test_enhanced_mode_accept_acknowledgements(gateway: Client) -> None:
    mllp = await Mllp.connect(gateway)
    always = await mllp.send(adt("A01", "E1", msh15="AL"))
    on_error = await mllp.send(adt("A01", "E2", msh15="ER", person="12034512344"))
    mllp.writer.write(frame(adt("A01", "E3", msh15="ER", visit="V2").encode()))  # success: no ACK wanted
    probe = await mllp.send(adt("A01", "E4", visit="V3"))
    mllp.close()
    assert always["MSA"][1] == "CA" and on_error["MSA"][1] == "CE"
    assert probe["MSA"][1:3] == ["AA", "E4"]  # the next ACK on the wire answers E4: none came for E3
    # the accept acknowledgement came once E1 and E3 were stored; processing followed
    for control_id in ("E1", "E3"):
        outcome = await gateway.hl7_outcome(control_id)
        assert outcome["status"] == "processed"
        assert "|AA|" + control_id in outcome["acknowledgement"]  # the application acknowledgement
    assert (await gateway.hl7_outcome("E2"))["http"] == 404  # refused before anything was stored
    assert len(await gateway.feed(NURSING)) == 3


async def test_messages_split_across_writes_many_connections_and_a_large_message(gateway: Client) -> None:
    async def one_connection(n: int) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.settings.mllp_port)
        codes_seen = []
        for k in range(5):
            data = frame(adt("A01", f"P{n}-{k}", visit=f"V{n}-{k}").encode())
            for i in range(0, len(data), 7):  # dribble the frame out in small pieces
                writer.write(data[i : i + 7])
                await writer.drain()
            codes_seen.append(parse_ack(await read_frame(reader, 1 << 20) or b"")["MSA"][1])
        writer.close()
        return codes_seen

    results = await asyncio.gather(*(one_connection(n) for n in range(6)))
    assert all(c == ["AA"] * 5 for c in results)
    big_note = "NTE|1||" + "x" * 200_000
    mllp = await Mllp.connect(gateway)
    assert (await mllp.send(adt("A01", "BIG", visit="VBIG", extra=big_note)))["MSA"][1] == "AA"
    mllp.close()
    assert (
        len(
            await gateway.feed(
                NURSING,
            )
        )
        == 31
    )


async def test_garbage_and_a_half_frame_close_only_their_own_connection(gateway: Client) -> None:
    good = await Mllp.connect(gateway)
    _, garbage = await asyncio.open_connection("127.0.0.1", gateway.settings.mllp_port)
    garbage.write(b"GET / HTTP/1.1\r\n\r\n")
    garbage.close()
    _, half = await asyncio.open_connection("127.0.0.1", gateway.settings.mllp_port)
    half.write(b"\x0bMSH|^~\\&|half a message")
    await half.drain()
    half.close()
    assert (await good.send(adt("A01", "G1")))["MSA"][1] == "AA"
    good.close()


async def test_hl7v2_over_http(gateway: Client) -> None:
    async with gateway.session.post(gateway.base + "/hl7v2", data=adt("A01", "H1").encode()) as resp:
        assert resp.status == 200
        assert parse_ack(await resp.read())["MSA"][1] == "AA"
    async with gateway.session.post(
        gateway.base + "/hl7v2", data=adt("A01", "H2", visit="").encode()
    ) as resp:
        assert resp.status == 422
        assert parse_ack(await resp.read())["MSA"][1] == "AE"
    async with gateway.session.post(gateway.base + "/hl7v2", data=b"not hl7") as resp:
        assert resp.status == 400
        assert parse_ack(await resp.read())["MSA"][1] == "AE"
    assert orjson.loads(orjson.dumps(await gateway.feed(NURSING)))[0]["messageType"] == "LOG_INNLAGT"
