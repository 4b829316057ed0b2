"""Coded concepts as parsed from DICOM, and the named codes the mapping compares against.

Legacy SNOMED RT ("SRT") codes are normalised to SNOMED CT ("SCT") when parsed, so every
comparison below is against SCT.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.sr._snomed_dict import mapping as _snomed_mapping

_SRT_TO_SCT: dict[str, str] = _snomed_mapping["SRT"]
_LEGACY_SNOMED = frozenset({"SRT", "SNM3", "99SDM"})


@dataclass(frozen=True, slots=True)
class Code:
    """A DICOM coded entry (Code Value / Long Code Value / URN Code Value + designator)."""

    value: str
    designator: str
    meaning: str = ""
    version: str | None = None
    is_urn: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.designator, self.value)


def normalise(value: str, designator: str, meaning: str, version: str | None, is_urn: bool) -> Code:
    """Build a Code, translating legacy SNOMED RT codes to SNOMED CT where a mapping exists."""
    if designator in _LEGACY_SNOMED and value in _SRT_TO_SCT:
        return Code(_SRT_TO_SCT[value], "SCT", meaning, None, False)
    return Code(value, designator, meaning, version, is_urn)


def _k(designator: str, value: str) -> tuple[str, str]:
    return (designator, value)


# Document and containers (TID 1500)
IMAGING_MEASUREMENT_REPORT = _k("DCM", "126000")
IMAGING_MEASUREMENTS = _k("DCM", "126010")
DERIVED_IMAGING_MEASUREMENTS = _k("DCM", "126011")
QUALITATIVE_EVALUATIONS = _k("UMLS", "C0034375")
MEASUREMENT_GROUP = _k("DCM", "125007")

# Measurement group context (TID 1501 / 1410 / 1411)
TRACKING_IDENTIFIER = _k("DCM", "112039")
TRACKING_UID = _k("DCM", "112040")
FINDING = _k("DCM", "121071")
FINDING_CATEGORY = _k("SCT", "276214006")
FINDING_SITE = _k("SCT", "363698007")
LATERALITY = _k("SCT", "272741003")
TOPOGRAPHICAL_MODIFIER = _k("SCT", "106233006")
MEASUREMENT_METHOD = _k("SCT", "370129005")
DERIVATION = _k("DCM", "121401")
GEOMETRIC_PURPOSE_OF_REGION = _k("DCM", "130400")
ACTIVITY_SESSION = _k("NCIt", "C67447")

# TID 4019 Algorithm Identification
ALGORITHM_NAME = _k("DCM", "111001")
ALGORITHM_VERSION = _k("DCM", "111003")
ALGORITHM_PARAMETERS = _k("DCM", "111002")
ALGORITHM_FAMILY = _k("DCM", "111000")
ALGORITHM_ITEMS = frozenset(
    {ALGORITHM_NAME, ALGORITHM_VERSION, ALGORITHM_PARAMETERS, ALGORITHM_FAMILY}
)

# Observer context (TID 1002)
OBSERVER_TYPE = _k("DCM", "121005")
PERSON = _k("DCM", "121006")
DEVICE = _k("DCM", "121007")
PERSON_OBSERVER_NAME = _k("DCM", "121008")

# Image references -> ImagingSelection profiles
IMAGE_REGION = _k("DCM", "111030")
REFERENCED_SEGMENT = _k("DCM", "121191")
REFERENCED_SEGMENTATION_FRAME = _k("DCM", "121214")
REGION_IN_SPACE = _k("DCM", "130488")
VOLUME_SURFACE = _k("DCM", "121231")
REAL_WORLD_VALUE_MAP = _k("DCM", "126100")
ILLUSTRATION_OF_ROI = _k("DCM", "121200")
VISUAL_EXPLANATION = _k("DCM", "130401")
SOURCE_IMAGE_FOR_SEGMENTATION = _k("DCM", "121233")
SOURCE_SERIES_FOR_SEGMENTATION = _k("DCM", "121232")
REFERENCED_ROI_IDENTIFIER = _k("DCM", "130489")

# TEXT/CODE children of a group that are not qualitative evaluations (architecture.md).
NOT_QUALITATIVE_EVALUATIONS = frozenset(
    {
        TRACKING_IDENTIFIER,
        FINDING,
        GEOMETRIC_PURPOSE_OF_REGION,
        ACTIVITY_SESSION,
        FINDING_CATEGORY,
        FINDING_SITE,
        MEASUREMENT_METHOD,
    }
)

TID_1500 = "1500"
