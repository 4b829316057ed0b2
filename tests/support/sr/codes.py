"""The coded concepts the factory's reports use (pydicom's code dictionary where it has
them, ``Code(...)`` where it does not)."""

from __future__ import annotations

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

SCT, DCM, UCUM = codes.SCT, codes.DCM, codes.UCUM
TITLE = DCM.ImagingMeasurementReport  # DCM 126000
PROCEDURE = Code("24627-2", "LN", "Chest CT")
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
DERIVED_IMAGING_MEASUREMENTS = Code("126011", "DCM", "Derived Imaging Measurements")
ILLUSTRATION_OF_ROI = Code("121200", "DCM", "Illustration of ROI")
VISUAL_EXPLANATION = Code("130401", "DCM", "Visual explanation")
REGION_IN_SPACE = Code("130488", "DCM", "Region In Space")
ROI_IDENTIFIER = Code("130489", "DCM", "Referenced Region of Interest Identifier")
SOURCE_SERIES_FOR_SEGMENTATION = Code("121232", "DCM", "Source series for segmentation")
MARGINS = Code("111037", "DCM", "Margins")
SPICULATED = Code("112136", "DCM", "Spiculated")
LOBULATED = Code("112135", "DCM", "Lobulated")
MALIGNANCY = Code("RID36042", "RADLEX", "Malignancy")
COMMENT = DCM.Comment  # DCM 121106
MEAN_OF_POPULATION = Code("373098007", "SCT", "Mean Value of population")
SD_OF_POPULATION = Code("121414", "DCM", "Standard deviation of population")
RECIST_1_1 = Code("126081", "DCM", "RECIST 1.1")
ALGORITHM_FAMILY_AI = DCM.ArtificialIntelligence  # DCM 123110
MM, MM2, MM3, HU = UCUM.Millimeter, UCUM.SquareMillimeter, UCUM.CubicMillimeter, UCUM.HounsfieldUnit
OTHER_TITLE = Code("18748-4", "LN", "Diagnostic imaging report")

# Concept names of group children that are not qualitative evaluations (IG architecture).
NOT_EVALUATIONS = frozenset(
    {"112039", "121071", "130400", "C67447", "276214006", "363698007", "370129005"}
)
