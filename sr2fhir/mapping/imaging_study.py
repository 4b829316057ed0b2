"""fhir.imaging_study create-if-missing: a minimal ImagingStudy of the SR's own study,
created by the transaction unless the server has one already.

The entry is a conditional create (`ifNoneExist` on the Study Instance UID identifier,
system urn:dicom:uid as the IG's examples), so the study the EHR or the PACS already has is
used and none is made twice; the Observations' partOf points at the entry's fullUrl, which
the server replaces with the id of the study it found or created: a literal reference in
one transaction even when no study exists yet. The fullUrl is a UUIDv5 of the Study
Instance UID, the same for every SR of the study.
"""

from __future__ import annotations

from typing import Any

from sr2fhir.errors import MappingError
from sr2fhir.mapping.coding import DCM, DICOM_UID, RFC_3986, uid_value
from sr2fhir.mapping.context import Reference, ReportReferences, Resource
from sr2fhir.mapping.document import DocumentHeader
from sr2fhir.mapping.ids import resource_id
from sr2fhir.mapping.options import MappingOptions
from sr2fhir.mapping.times import from_dicom

SR_MODALITY = {"system": DCM, "code": "SR", "display": "SR Document"}


def study_full_url(study_uid: str) -> str:
    """The ImagingStudy entry's fullUrl: the same for every SR of one study."""
    return f"urn:uuid:{resource_id(study_uid, 'ImagingStudy')}"


def referencing_created_study(refs: ReportReferences, study_uid: str) -> ReportReferences:
    """`refs` with the ImagingStudy named by the entry's fullUrl (its identifier kept)."""
    study: Reference = {"reference": study_full_url(study_uid), **refs.imaging_study}
    return ReportReferences(refs.subject, refs.service_request, study)


def build_imaging_study_entry(
    header: DocumentHeader, refs: ReportReferences, options: MappingOptions
) -> dict[str, Any]:
    """The conditional create of the study: from the SR header only (study UID, subject,
    the order, when it started, the SR's own series and instance)."""
    identifier = refs.imaging_study["identifier"]
    return {
        "fullUrl": study_full_url(header.study_uid),
        "resource": build_imaging_study(header, refs, options),
        "request": {
            "method": "POST",
            "url": "ImagingStudy",
            "ifNoneExist": f"identifier={DICOM_UID}|{identifier['value']}",
        },
    }


def build_imaging_study(
    header: DocumentHeader, refs: ReportReferences, options: MappingOptions
) -> Resource:
    study: Resource = {
        "resourceType": "ImagingStudy",
        "identifier": [refs.imaging_study["identifier"]],
        "status": "available",
        "subject": refs.subject,
    }
    started = _started(header, options)
    if started is not None:
        study["started"] = started
    if refs.service_request is not None:
        study["basedOn"] = [refs.service_request]
    if header.series_uid:
        study["series"] = [
            {
                "uid": header.series_uid,
                "modality": {"coding": [SR_MODALITY]},
                "instance": [
                    {
                        "uid": header.sop_instance_uid,
                        "sopClass": {"system": RFC_3986, "code": uid_value(header.sop_class_uid)},
                    }
                ],
            }
        ]
    return study


def _started(header: DocumentHeader, options: MappingOptions) -> str | None:
    """Study Date + Time as a dateTime; None when the header has no usable one."""
    if not header.study_date:
        return None
    try:
        return from_dicom(
            None,
            header.study_date,
            header.study_time,
            header.timezone_offset,
            options.default_utc_offset,
            "Study Date/Time",
        ).date_time
    except MappingError:  # not worth refusing the report for
        return None
