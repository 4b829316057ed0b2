"""Logical references, by identifier, to the Patient, ServiceRequest and ImagingStudy.

The IG assumes these resources exist in the EHR; offline we can only name them. The
fhir sink may later swap these for literal references after searching the server.
"""

from __future__ import annotations

import re
from typing import Any

from sr2fhir.mapping import codes as c
from sr2fhir.mapping.coding import (
    DICOM_UID,
    V2_0203,
    build_codeable_concept,
    fixed_concept,
    uid_value,
)
from sr2fhir.mapping.context import Reference, ReportReferences
from sr2fhir.mapping.document import DocumentHeader, Issuer
from sr2fhir.mapping.options import MappingOptions

STUDY_INSTANCE_UID_TYPE = build_codeable_concept(c.STUDY_INSTANCE_UID)
ACCESSION_TYPE = fixed_concept(V2_0203, "ACSN", "Accession ID")


_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def issuer_system(issuer: Issuer, options: MappingOptions, fallback: str | None) -> str | None:
    """Identifier.system from a DICOM issuer.

    The configured `issuer_systems` (keyed by universal or local id) win; then the universal
    entity id (ISO -> urn:oid:, UUID -> urn:uuid:, an absolute URI as is); then the fallback.
    A "URI" that is not absolute (e.g. a bare host name) cannot be a FHIR system.
    """
    configured = dict(options.issuer_systems)
    for name in (issuer.universal_id, issuer.local_id):
        if name and name in configured:
            return configured[name]
    if issuer.universal_id:
        kind = issuer.universal_id_type
        if kind == "ISO":
            return uid_value(issuer.universal_id)
        if kind == "UUID":
            return f"urn:uuid:{issuer.universal_id.lower()}"
        if _ABSOLUTE_URI.match(issuer.universal_id):
            return issuer.universal_id
    return fallback


def _identifier(
    value: str, system: str | None, assigner: str | None, type_: dict[str, Any] | None
) -> dict[str, Any]:
    identifier: dict[str, Any] = {}
    if type_ is not None:
        identifier["type"] = type_
    if system is not None:
        identifier["system"] = system
    identifier["value"] = value
    if assigner:
        identifier["assigner"] = {"display": assigner}
    return identifier


def patient_identifier(header: DocumentHeader, options: MappingOptions) -> dict[str, Any]:
    system = issuer_system(header.patient_issuer, options, options.default_patient_id_system)
    return _identifier(header.patient_id, system, header.patient_issuer.local_id, None)


def study_identifier(study_uid: str) -> dict[str, Any]:
    return _identifier(uid_value(study_uid), DICOM_UID, None, STUDY_INSTANCE_UID_TYPE)


def build_report_references(header: DocumentHeader, options: MappingOptions) -> ReportReferences:
    subject: Reference = {"type": "Patient", "identifier": patient_identifier(header, options)}
    service_request: Reference | None = None
    if header.accession_number:
        system = issuer_system(header.accession_issuer, options, None)
        service_request = {
            "type": "ServiceRequest",
            "identifier": _identifier(
                header.accession_number,
                system,
                header.accession_issuer.local_id,
                ACCESSION_TYPE,
            ),
        }
    imaging_study: Reference = {
        "type": "ImagingStudy",
        "identifier": study_identifier(header.study_uid),
    }
    return ReportReferences(subject, service_request, imaging_study)
