"""Canonical URLs of the IG's profiles (hl7.fhir.uv.dicom-sr), one per built resource kind."""

from __future__ import annotations

IG = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"

IMAGING_MEASUREMENT_GROUP = IG + "imaging-measurement-group"
IMAGING_MEASUREMENT = IG + "imaging-measurement"
IMAGING_QUALITATIVE_EVALUATION = IG + "imaging-qualitative-evaluation"
DERIVED_IMAGING_MEASUREMENT = IG + "derived-imaging-measurement"
GENERAL_EQUIPMENT = IG + "dicom-general-equipment"
ALGORITHM_IDENTIFICATION = IG + "algorithm-identification"
PARTICIPANT_DEVICE = IG + "dicom-participant-device"
PARTICIPANT_PERSON = IG + "dicom-participant-person"
FINDING_SITE = IG + "dicom-sr-finding-site"
SOURCE_SR_CONTENT_ITEM = IG + "source-sr-content-item"


def selection_profile(kind_value: str) -> str:
    """ImagingSelection profiles are named like SelectionKind values."""
    return IG + kind_value
