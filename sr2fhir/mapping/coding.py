"""DICOM coding scheme designators -> FHIR code system URIs, and Coding/CodeableConcept builders.

Systems follow HL7 Terminology (THO) where it names one and the IG's fixed values where the
IG pins one (UMLS). Private ("99...") and unknown designators map to
`urn:sr2fhir:dicom-csd:<designator>` (see docs/mapping.md); URN Code Values use the
RFC 3986 system with the URN as code.
"""

from __future__ import annotations

from typing import Any

from sr2fhir.mapping.codes import Code

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
UMLS = "http://terminology.hl7.org/CodeSystem/umls"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
DICOM_IDENTIFIER_TYPE = "http://hl7.org/fhir/uv/dicom-sr/CodeSystem/dicom-identifier-type"
DICOM_UID = "urn:dicom:uid"
RFC_3986 = "urn:ietf:rfc:3986"
SOP_CLASS_SYSTEM = "https://dicom.nema.org/medical/dicom/current/output/chtml/part04/sect_B.5"
UNKNOWN_DESIGNATOR_PREFIX = "urn:sr2fhir:dicom-csd:"

SYSTEM_BY_DESIGNATOR: dict[str, str] = {
    "DCM": DCM,
    "SCT": SCT,
    "SRT": "http://snomed.info/srt",
    "LN": "http://loinc.org",
    "UCUM": UCUM,
    "UMLS": UMLS,
    "NCIt": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
    "RADLEX": "http://radlex.org",
    "RadLex": "http://radlex.org",
    "FMA": "http://purl.org/sig/ont/fma",
    "MDC": "urn:iso:std:iso:11073:10101",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "RFC5646": "urn:ietf:bcp:47",
    "NEU": "http://neurolex.org",
    "NCBI": "http://www.ncbi.nlm.nih.gov/taxonomy",
    "HGNC": "http://www.genenames.org",
    "ACR": "http://www.acr.org",
}


def system_for(designator: str) -> str:
    """The FHIR system of a DICOM Coding Scheme Designator."""
    known = SYSTEM_BY_DESIGNATOR.get(designator)
    if known is not None:
        return known
    return UNKNOWN_DESIGNATOR_PREFIX + designator


def build_coding(code: Code) -> dict[str, Any]:
    if code.is_urn:
        coding: dict[str, Any] = {"system": RFC_3986, "code": code.value}
    else:
        coding = {"system": system_for(code.designator), "code": code.value}
        if code.version and code.designator not in ("DCM", "SCT", "UCUM"):
            coding["version"] = code.version
    if code.meaning:
        coding["display"] = code.meaning
    return coding


def build_codeable_concept(code: Code) -> dict[str, Any]:
    return {"coding": [build_coding(code)]}


def fixed_concept(system: str, code: str, display: str) -> dict[str, Any]:
    """A CodeableConcept for one of the IG's fixed codes."""
    return {"coding": [{"system": system, "code": code, "display": display}]}


def uid_value(uid: str) -> str:
    """FHIR's convention for a DICOM UID in Identifier.value (system urn:dicom:uid)."""
    return f"urn:oid:{uid}"
