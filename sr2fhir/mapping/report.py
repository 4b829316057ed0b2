"""TID 1500 Measurement Report content as small frozen values the FHIR builders read
(report_parser.py reads them from the content tree).

Templates: TID 1500 (Measurement Report), TID 1501 / 1410 / 1411 (measurement groups),
TID 300 / 1419 (measurements), TID 1420 (derived measurements), TID 4019 (algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.value_types import (
    NumericValue,
    SopReference,
    SpatialCoordinates,
    SpatialCoordinates3D,
)
from sr2fhir.mapping.warnings import MappingWarning


class ImageReferenceKind(Enum):
    """What an observation was made on, by concept name and value type (TID 1501/1410/1411)."""

    IMAGE_REGION_2D = auto()  # SCOORD (111030, DCM, "Image Region") or unnamed
    IMAGE_REGION_3D = auto()  # SCOORD3D (111030, DCM, "Image Region") or unnamed
    REFERENCED_SEGMENT = auto()
    REFERENCED_SEGMENTATION_FRAME = auto()
    REGION_IN_SPACE = auto()
    VOLUME_SURFACE = auto()  # SCOORD3D or a reference to a surface segmentation
    REAL_WORLD_VALUE_MAP = auto()
    ILLUSTRATION_OF_ROI = auto()
    VISUAL_EXPLANATION = auto()
    SOURCE_IMAGE_FOR_SEGMENTATION = auto()


@dataclass(frozen=True, slots=True)
class AlgorithmIdentification:
    """TID 4019: name, version, parameters and family of the algorithm."""

    name: str
    version: str | None = None
    parameters: tuple[str, ...] = ()
    family: Code | None = None


@dataclass(frozen=True, slots=True)
class FindingSite:
    """EV (363698007, SCT, "Finding Site") with its Laterality / Topographical modifier."""

    site: Code
    laterality: Code | None = None
    modifier: Code | None = None

    @property
    def has_modifiers(self) -> bool:
        return self.laterality is not None or self.modifier is not None


@dataclass(frozen=True, slots=True)
class ImageReference:
    """An image, segment, region or map that an observation was made on."""

    kind: ImageReferenceKind
    path: str
    concept: Code | None
    references: tuple[SopReference, ...] = ()
    region: SpatialCoordinates | SpatialCoordinates3D | None = None
    roi_identifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Observed:
    """What every mapped observation carries: identity, time and its own modifiers."""

    path: str
    concept: Code | None
    observation_uid: str | None
    observation_datetime: str | None
    algorithm: AlgorithmIdentification | None = None
    finding_site: FindingSite | None = None
    method: Code | None = None
    image_references: tuple[ImageReference, ...] = ()


@dataclass(frozen=True, slots=True)
class Measurement:
    """TID 300 / 1419: a NUM item."""

    observed: Observed
    numeric: NumericValue
    derivation: Code | None = None


@dataclass(frozen=True, slots=True)
class QualitativeEvaluation:
    """A CODE or TEXT evaluation (in a group, or in the Qualitative Evaluations container)."""

    observed: Observed
    code: Code | None
    text: str | None


@dataclass(frozen=True, slots=True)
class MeasurementGroup:
    """TID 1501 / 1410 / 1411: a Measurement Group container (DCM 125007)."""

    observed: Observed
    template_id: str | None
    tracking_identifier: str | None
    tracking_uid: str | None
    finding_category: Code | None
    finding: Code | None
    source_series_uid: str | None
    measurements: tuple[Measurement, ...]
    evaluations: tuple[QualitativeEvaluation, ...]


@dataclass(frozen=True, slots=True)
class DerivedMeasurement:
    """TID 1420: a NUM in the Derived Imaging Measurements container (DCM 126011)."""

    measurement: Measurement
    group_paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MeasurementReport:
    """The mapped subset of one TID 1500 content tree."""

    title: Code
    person_observers: tuple[str, ...]
    groups: tuple[MeasurementGroup, ...]
    evaluations: tuple[QualitativeEvaluation, ...]
    derived: tuple[DerivedMeasurement, ...]
    skipped: tuple[MappingWarning, ...] = ()
