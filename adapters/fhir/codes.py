"""Systems, OIDs and code values shared by every wire format.

One place, so the FHIR, HL7 v2 and KITH adapters and the gateway agree on spelling.
See docs/FHIR-PROFILE.md for how each is used.
"""

from __future__ import annotations

OID = "urn:oid:"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
HNR = "urn:oid:2.16.578.1.12.4.1.4.3"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
HER = "urn:oid:2.16.578.1.12.4.1.2"
ENH = "urn:oid:2.16.578.1.12.4.1.4.101"
KOMMUNENUMMER = "urn:oid:2.16.578.1.12.4.1.1.3402"
MESSAGE_TYPE = "urn:oid:2.16.578.1.12.4.1.1.8279"
EVENT_CODE_9121 = "urn:oid:2.16.578.1.12.4.1.1.9121"
SECTION_8311 = "urn:oid:2.16.578.1.12.4.1.1.8311"
DISPATCH_STATUS_7309 = "urn:oid:2.16.578.1.12.4.1.1.7309"
ATC = "urn:oid:2.16.578.1.12.4.1.1.7180"
ICD10 = "urn:oid:2.16.578.1.12.4.1.1.7110"
ICPC2 = "urn:oid:2.16.578.1.12.4.1.1.7170"
V2_EVENT = "http://terminology.hl7.org/CodeSystem/v2-0003"
LOINC = "http://loinc.org"
NO_BASIS_PROPERTY = "http://hl7.no/fhir/StructureDefinition/no-basis-propertyinformation"

PERSON_ID_SYSTEMS = (FNR, DNR, HNR)

GW = "https://gateway.helsefellesskap.no/fhir/"
EXT_EVENT_TIME = GW + "event-time"
EXT_READY = GW + "ready-for-discharge"
EXT_READY_DECIDED_BY = GW + "ready-decided-by"
EXT_SERVICES_EXPECTED = GW + "municipal-services-expected"
EXT_MED_CHANGE = GW + "medication-change"
EXT_DIAGNOSIS_RANK = GW + "diagnosis-rank"
EXT_READY_ASSESSMENT = GW + "ready-assessment"  # one per ready criterion (docs/FHIR-PROFILE.md)
READY_ASSESSMENT = GW + "ready-assessment"  # its code system
EXT_MUNICIPAL_AGREEMENT = GW + "municipal-agreement"
EXT_DAYS_SUPPLIED = GW + "days-supplied"
DISCHARGE_CONTENT = GW + "discharge-content"  # section codes for discharge content (docs/RULES.md)
SECTION_9141 = "urn:oid:2.16.578.1.12.4.1.1.9141"  # Overskrifter for sykepleiedokumentasjon
SECTION_9142 = "urn:oid:2.16.578.1.12.4.1.1.9142"  # Medisinskfaglige opplysninger
EXT_CONVERSATION_REF = GW + "conversation-ref"
EXT_PARENT_REF = GW + "parent-ref"
EXT_DISPATCH_STATUS = GW + "dispatch-status"
EXT_EVENT_CODE = GW + "event-code"
EXT_GP_CLASS = GW + "gp-classification"
EXT_HELSEOPPL_TYPE = GW + "helseopplysninger-type"
GW_MESSAGE_TYPE = GW + "message-type"
GW_GP_CLASS = GW + "gp-classification"
GW_RULE = GW + "rule"  # a handover rule id (docs/RULES.md)

# Inbound HL7 v2 trigger events the gateway understands (table 0003), plus T02 for documents.
ADT_EVENTS = frozenset({"A01", "A02", "A03", "A04", "A08", "A11", "A13", "A16", "A25", "A21", "A22", "A40"})
DOCUMENT_EVENT = "T02"
INBOUND_EVENTS = ADT_EVENTS | {DOCUMENT_EVENT}

# Composition types (LOINC).
LOINC_EPIKRISE = "18842-5"
LOINC_UTSKRIVNINGSRAPPORT = "34745-0"

# Outbound message types (code list 8279) and display names.
MESSAGE_TYPES: dict[str, str] = {
    "LOG_INNLAGT": "Melding om innlagt pasient",
    "HELSEOPPL_SOKNAD": "Helseopplysninger ved søknad",
    "LOG_UTSKRIVNINGSKLAR": "Melding om utskrivningsklar pasient",
    "LOG_AVMELDING": "Avmelding av utskrivningsklar pasient",
    "LOG_UTSKREVET": "Melding om utskrevet pasient",
    "LOG_DOD": "Orientering om dødsfall",
    "UTSKRIVNINGSRAPPORT": "Utskrivningsrapport",
    "EPIKRISE": "Epikrise",
    "DIALOG_NOTAT": "Dialogmelding notat",
    "LEGEMIDDELLISTE": "Legemiddelliste ved utskrivning",
}

# Logistics event codes, code list 9121.
EVENT_9121 = {
    "1": "Pasient innlagt",
    "2": "Pasient utskrevet",
    "3": "Pasient utskrivningsklar",
    "4": "Avmelding utskrivningsklar",
    "13": "Pasient død",
}

# Section headings, code list 8311 (subset the gateway reads and writes).
SECTIONS_8311 = {
    "AA": "Årsak til innleggelse",
    "FB": "Forløp og behandling",
    "VU": "Vurdering",
    "OP": "Oppfølging, planer og anbefalinger",
    "IP": "Informasjon til pasient og pårørende",
    "FH": "Funksjonsnivå og hjelpetiltak",
    "ME": "Medikamenter",
}

MED_CHANGES = ("new", "changed", "stopped", "unchanged")
