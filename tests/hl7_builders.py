"""Norwegian-style HL7 v2 ADT messages for tests: fødselsnummer in PID-3, kommunenummer in PID-11,
the GP's HER-id in PD1-4, visit number in PV1-19."""

from __future__ import annotations

from tests.builders import FNR_HAMAR


def adt(
    trigger: str,
    control_id: str,
    *,
    visit: str = "V1001",
    person: str = FNR_HAMAR,
    kommune: str = "3403",
    evn_time: str = "20261102100000",
    version: str = "2.5",
    disposition: str = "",
    discharge: str = "",
    family: str = "Nordmann",
    given: str = "Kari",
    charset: str = "UNICODE UTF-8",
    extra: str = "",
    msh15: str = "",
    sep: str = "\r",
) -> str:
    segments = [
        f"MSH|^~\\&|DIPS|8000001^8000001^HER|GATEWAY|HF|{evn_time}||ADT^{trigger}^ADT_A01|{control_id}|P|{version}"
        f"|||{msh15}||NOR|{charset}",
        f"EVN|{trigger}|{evn_time}|||9144889^Legesen^Lege^^^^^^HPR|{evn_time}",
        f"PID|1||{person}^^^FNR^FNR||{family}^{given}||19450312|F|||Storgata 1^^Hamar^^2317^NOR^H^^{kommune}",
        "PD1||||8200011^Lege^Kari^^^^^^HER",
        "NK1|1|Nordmann^Ola|SPO^Ektefelle|Storgata 1^^Hamar^^2317|98765432",
        f"PV1|1|I|MED3^301^1^Medisinsk avdeling||||9144889^Legesen^Lege^^^^^^HPR||||||||||||{visit}"
        f"|||||||||||||||||{disposition}||||||||20261102100000|{discharge}",
    ]
    if extra:
        segments.append(extra)
    return sep.join(segments) + sep


def mdm_t02(
    control_id: str,
    doc_id: str,
    *,
    visit: str = "V1001",
    doc_type: str = "UTSKRIVNINGSRAPPORT",
    availability: str = "AV",
    sections: dict[str, str] | None = None,
) -> str:
    sections = sections or {"AA": "Innlagt med pneumoni.", "OP": "Kontroll hos fastlege om 2 uker."}
    obx = [
        f"OBX|{n}|TX|{code}^{code}^8311||{text}||||||F" for n, (code, text) in enumerate(sections.items(), 1)
    ]
    return (
        "\r".join(
            [
                f"MSH|^~\\&|DIPS|8000001^8000001^HER|GATEWAY|HF|20261106120000||MDM^T02^MDM_T02|{control_id}|P|2.5",
                "EVN|T02|20261106120000",
                f"PID|1||{FNR_HAMAR}^^^FNR^FNR||Nordmann^Kari||19450312|F|||"
                "Storgata 1^^Hamar^^2317^NOR^H^^3403",
                f"PV1|1|I|MED3^301^1||||||||||||||||{visit}",
                f"TXA|1|{doc_type}|TX|20261106120000|||||^Hansen^Sykepleier|||{doc_id}|||||AU||{availability}",
                *obx,
            ]
        )
        + "\r"
    )
