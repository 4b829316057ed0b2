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

# ImagingSelection: what an observation was made on
IMAGE_REGION_2D = IG + "image-region-2d"
IMAGE_REGION_3D = IG + "image-region-3d"
REFERENCED_SEGMENT = IG + "referenced-segment"
REFERENCED_SEGMENTATION_FRAME = IG + "referenced-segmentation-frame"
REGION_IN_SPACE = IG + "region-in-space"
VOLUME_SURFACE = IG + "volume-surface"
REAL_WORLD_VALUE_MAP = IG + "real-world-value-map"
ILLUSTRATION_OF_ROI = IG + "illustration-of-roi"
VISUAL_EXPLANATION = IG + "visual-explanation"
SOURCE_IMAGE_FOR_SEGMENTATION = IG + "source-image-for-segmentation"
