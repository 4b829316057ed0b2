"""Coded concepts as parsed from DICOM, and every code the mapping compares against or writes.

One module for the vocabulary: each code is a named constant with the meaning PS3.16 gives it
(or, for the codes a FHIR profile fixes, the display the profile fixes). Legacy SNOMED RT
("SRT") codes are normalised to SNOMED CT ("SCT") when parsed, so every comparison is against
SCT. tests/unit/mapping/test_codes.py checks each constant against pydicom's PS3.16 dictionary.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

_LEGACY_SNOMED = frozenset({"SRT", "SNM3", "99SDM"})


@dataclass(frozen=True, slots=True, eq=False)
class Code:
    """A DICOM coded entry (Code Value / Long Code Value / URN Code Value + designator).

    Two codes are the same concept when designator and value are (PS3.3 8.1): the meaning is
    display text and the version only disambiguates, so neither takes part in == or hash.
    """

    value: str
    designator: str
    meaning: str = ""
    version: str | None = None
    is_urn: bool = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Code):
            return NotImplemented
        return self.value == other.value and self.designator == other.designator

    def __hash__(self) -> int:
        return hash((self.designator, self.value))


def describe_code(code: Code | None) -> str:
    """(value, designator, "meaning") as PS3.16 writes a code; "missing" for None."""
    if code is None:
        return "missing"
    return f'({code.value}, {code.designator}, "{code.meaning}")'


def normalise(value: str, designator: str, meaning: str, version: str | None, is_urn: bool) -> Code:
    """Build a Code, translating legacy SNOMED RT codes to SNOMED CT where a mapping exists."""
    if designator in _LEGACY_SNOMED:
        sct = srt_to_sct().get(value)
        if sct is not None:
            return Code(sct, "SCT", meaning, None, False)
    return Code(value, designator, meaning, version, is_urn)


@functools.cache
def srt_to_sct() -> Mapping[str, str]:
    """pydicom's SNOMED RT -> SNOMED CT table (about 8,000 codes).

    The package's one private pydicom import: pydicom has no public API for the table (its
    public `pydicom.sr.coding.Code` only uses it inside ==). Imported on first use, as it loads
    pydicom's whole code dictionary. test_codes.py fails if pydicom moves or reshapes it.
    """
    from pydicom.sr._snomed_dict import mapping

    table: Mapping[str, str] = mapping["SRT"]
    return table


# TID 1500 Measurement Report: document title and containers
IMAGING_MEASUREMENT_REPORT = Code("126000", "DCM", "Imaging Measurement Report")
IMAGING_MEASUREMENTS = Code("126010", "DCM", "Imaging Measurements")
DERIVED_IMAGING_MEASUREMENTS = Code("126011", "DCM", "Derived Imaging Measurements")
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
MEASUREMENT_GROUP = Code("125007", "DCM", "Measurement Group")
PERSON_OBSERVER_NAME = Code("121008", "DCM", "Person Observer Name")  # TID 1003
IMAGE_LIBRARY = Code("111028", "DCM", "Image Library")  # TID 1600: evidence, not mapped

# Measurement group context (TID 1501 / 1410 / 1411) and measurements (TID 300 / 1419)
TRACKING_IDENTIFIER = Code("112039", "DCM", "Tracking Identifier")
TRACKING_UID = Code("112040", "DCM", "Tracking Unique Identifier")
FINDING = Code("121071", "DCM", "Finding")
FINDING_CATEGORY = Code("276214006", "SCT", "Finding category")
FINDING_SITE = Code("363698007", "SCT", "Finding Site")
LATERALITY = Code("272741003", "SCT", "Laterality")
TOPOGRAPHICAL_MODIFIER = Code("106233006", "SCT", "Topographical modifier")
MEASUREMENT_METHOD = Code("370129005", "SCT", "Measurement Method")
DERIVATION = Code("121401", "DCM", "Derivation")
GEOMETRIC_PURPOSE_OF_REGION = Code("130400", "DCM", "Geometric purpose of region")
ACTIVITY_SESSION = Code("C67447", "NCIt", "Activity Session")

# TID 4019 Algorithm Identification
ALGORITHM_NAME = Code("111001", "DCM", "Algorithm Name")
ALGORITHM_VERSION = Code("111003", "DCM", "Algorithm Version")
ALGORITHM_PARAMETERS = Code("111002", "DCM", "Algorithm Parameters")
ALGORITHM_FAMILY = Code("111000", "DCM", "Algorithm Family")
ALGORITHM_ITEMS = frozenset(
    {ALGORITHM_NAME, ALGORITHM_VERSION, ALGORITHM_PARAMETERS, ALGORITHM_FAMILY}
)

# What an observation was made on (TID 1501 / 1410 / 1411 / 1419); the meanings are the
# displays the IG's ImagingSelection profiles fix for them.
IMAGE_REGION = Code("111030", "DCM", "Image Region")
REFERENCED_SEGMENT = Code("121191", "DCM", "Referenced Segment")
REFERENCED_SEGMENTATION_FRAME = Code("121214", "DCM", "Referenced Segmentation Frame")
REGION_IN_SPACE = Code("130488", "DCM", "Region In Space")
VOLUME_SURFACE = Code("121231", "DCM", "Volume Surface")
REAL_WORLD_VALUE_MAP = Code("126100", "DCM", "Real World Value Map used for measurement")
ILLUSTRATION_OF_ROI = Code("121200", "DCM", "Illustration of ROI")
VISUAL_EXPLANATION = Code("130401", "DCM", "Visual Explanation")
SOURCE_IMAGE_FOR_SEGMENTATION = Code("121233", "DCM", "Source image for segmentation")
SOURCE_SERIES_FOR_SEGMENTATION = Code("121232", "DCM", "Source series for segmentation")
REFERENCED_ROI_IDENTIFIER = Code("130489", "DCM", "Referenced Region of Interest Identifier")

# Codes the FHIR side writes (fixed by the IG's profiles)
ORIGINAL_SOURCE = Code("111040", "DCM", "Original Source")
STUDY_INSTANCE_UID = Code("110180", "DCM", "Study Instance UID")

# CID 42 Numeric Value Qualifier
NOT_A_NUMBER = Code("114000", "DCM", "Not a number")
NEGATIVE_INFINITY = Code("114001", "DCM", "Negative Infinity")
POSITIVE_INFINITY = Code("114002", "DCM", "Positive Infinity")
DIVIDE_BY_ZERO = Code("114003", "DCM", "Divide by zero")
UNDERFLOW = Code("114004", "DCM", "Underflow")
OVERFLOW = Code("114005", "DCM", "Overflow")
MEASUREMENT_FAILURE = Code("114006", "DCM", "Measurement failure")
MEASUREMENT_NOT_ATTEMPTED = Code("114007", "DCM", "Measurement not attempted")
CALCULATION_FAILURE = Code("114008", "DCM", "Calculation failure")
VALUE_OUT_OF_RANGE = Code("114009", "DCM", "Value out of range")
VALUE_UNKNOWN = Code("114010", "DCM", "Value unknown")
VALUE_INDETERMINATE = Code("114011", "DCM", "Value indeterminate")

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
