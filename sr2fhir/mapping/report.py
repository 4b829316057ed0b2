"""TID 1500 Measurement Report content -> small frozen values the FHIR builders read.

Templates: TID 1500 (Measurement Report), TID 1501 / 1410 / 1411 (measurement groups),
TID 300 / 1419 (measurements), TID 1420 (derived measurements), TID 4019 (algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from sr2fhir.errors import SrParseError
from sr2fhir.mapping import codes as c
from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.content import ContentItem, Graphic, NumericValue, SopReference


class SelectionKind(Enum):
    """Image reference kinds, each one ImagingSelection profile of the IG."""

    IMAGE_REGION_2D = "image-region-2d"
    IMAGE_REGION_3D = "image-region-3d"
    REFERENCED_SEGMENT = "referenced-segment"
    REFERENCED_SEGMENTATION_FRAME = "referenced-segmentation-frame"
    REGION_IN_SPACE = "region-in-space"
    VOLUME_SURFACE = "volume-surface"
    REAL_WORLD_VALUE_MAP = "real-world-value-map"
    ILLUSTRATION_OF_ROI = "illustration-of-roi"
    VISUAL_EXPLANATION = "visual-explanation"
    SOURCE_IMAGE_FOR_SEGMENTATION = "source-image-for-segmentation"


_SELECTION_BY_CONCEPT: dict[tuple[str, str], SelectionKind] = {
    c.REFERENCED_SEGMENT: SelectionKind.REFERENCED_SEGMENT,
    c.REFERENCED_SEGMENTATION_FRAME: SelectionKind.REFERENCED_SEGMENTATION_FRAME,
    c.REGION_IN_SPACE: SelectionKind.REGION_IN_SPACE,
    c.VOLUME_SURFACE: SelectionKind.VOLUME_SURFACE,
    c.REAL_WORLD_VALUE_MAP: SelectionKind.REAL_WORLD_VALUE_MAP,
    c.ILLUSTRATION_OF_ROI: SelectionKind.ILLUSTRATION_OF_ROI,
    c.VISUAL_EXPLANATION: SelectionKind.VISUAL_EXPLANATION,
    c.SOURCE_IMAGE_FOR_SEGMENTATION: SelectionKind.SOURCE_IMAGE_FOR_SEGMENTATION,
}


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

    kind: SelectionKind
    path: str
    concept: Code | None
    references: tuple[SopReference, ...] = ()
    graphic: Graphic | None = None
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


def is_measurement_report(root: ContentItem) -> bool:
    """TID 1500 by template identifier, or by document title when the template id is absent."""
    if root.template_id is not None:
        return root.template_id == c.TID_1500
    return root.concept_key == c.IMAGING_MEASUREMENT_REPORT


def parse_measurement_report(root: ContentItem) -> MeasurementReport:
    """Walk a TID 1500 root: observers, the three containers, groups and their members."""
    if root.concept is None:
        raise SrParseError("document has no title", root.path)
    walker = _ReportWalker()
    for child in root.children:
        walker.visit_root_child(child)
    return MeasurementReport(
        title=root.concept,
        person_observers=tuple(walker.person_observers),
        groups=tuple(walker.groups),
        evaluations=tuple(walker.evaluations),
        derived=tuple(walker.resolve_derived()),
    )


@dataclass
class _ReportWalker:
    person_observers: list[str] = field(default_factory=list)
    groups: list[MeasurementGroup] = field(default_factory=list)
    evaluations: list[QualitativeEvaluation] = field(default_factory=list)
    # (NUM item, cited group paths, nested group paths, inherited Observation DateTime)
    derived_items: list[tuple[ContentItem, tuple[str, ...], tuple[str, ...], str | None]] = field(
        default_factory=list
    )

    def visit_root_child(self, item: ContentItem) -> None:
        key = item.concept_key
        if key == c.PERSON_OBSERVER_NAME and item.person_name:
            self.person_observers.append(item.person_name)
        elif key == c.IMAGING_MEASUREMENTS:
            for child in item.children:
                self.visit_container_child(child, item.observation_datetime)
        elif key in (c.DERIVED_IMAGING_MEASUREMENTS, c.QUALITATIVE_EVALUATIONS):
            self.visit_container_child(item, None)

    def visit_container_child(self, item: ContentItem, inherited_dt: str | None) -> None:
        key = item.concept_key
        dt = item.observation_datetime or inherited_dt
        if key == c.MEASUREMENT_GROUP and item.value_type == "CONTAINER":
            self.groups.append(parse_measurement_group(item, dt))
        elif key == c.DERIVED_IMAGING_MEASUREMENTS:
            self._visit_derived_container(item, dt)
        elif key == c.QUALITATIVE_EVALUATIONS:
            for child in item.children:
                if (
                    child.value_type in ("CODE", "TEXT")
                    and child.concept_key not in c.ALGORITHM_ITEMS
                ):
                    self.evaluations.append(parse_qualitative_evaluation(child, dt))

    def _visit_derived_container(self, container: ContentItem, inherited_dt: str | None) -> None:
        dt = container.observation_datetime or inherited_dt
        nested: list[str] = []
        for child in container.children:
            if child.concept_key == c.MEASUREMENT_GROUP and child.value_type == "CONTAINER":
                self.groups.append(parse_measurement_group(child, dt))
                nested.append(child.path)
        for child in container.children:
            if child.value_type != "NUM":
                continue
            cited: list[str] = []
            for grandchild in child.children:
                if grandchild.value_type == "BYREF" and grandchild.referenced_path:
                    cited.append(grandchild.referenced_path)
                elif (
                    grandchild.concept_key == c.MEASUREMENT_GROUP
                    and grandchild.value_type == "CONTAINER"
                ):
                    self.groups.append(parse_measurement_group(grandchild, dt))
                    cited.append(grandchild.path)
            self.derived_items.append((child, tuple(cited), tuple(nested), dt))

    def resolve_derived(self) -> list[DerivedMeasurement]:
        """derivedFrom: cited groups, else the container's nested groups, else every group."""
        group_paths = {g.observed.path for g in self.groups}
        resolved = []
        for item, cited, nested, dt in self.derived_items:
            for path in cited:
                if path not in group_paths:
                    raise SrParseError(
                        f"derived measurement cites item {path}, which is not a measurement group",
                        item.path,
                    )
            paths = cited or nested or tuple(sorted(group_paths, key=_path_order))
            measurement = parse_measurement(item, dt)
            resolved.append(DerivedMeasurement(measurement, paths))
        return resolved


def _path_order(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split("."))


def parse_algorithm(children: tuple[ContentItem, ...]) -> AlgorithmIdentification | None:
    """TID 4019 among an item's children; None without an Algorithm Name."""
    name: str | None = None
    version: str | None = None
    family: Code | None = None
    parameters: list[str] = []
    for child in children:
        key = child.concept_key
        if key == c.ALGORITHM_NAME:
            name = _text_or_meaning(child)
        elif key == c.ALGORITHM_VERSION:
            version = _text_or_meaning(child)
        elif key == c.ALGORITHM_PARAMETERS:
            parameters.append(_text_or_meaning(child))
        elif key == c.ALGORITHM_FAMILY:
            family = child.code
    if not name:
        return None
    return AlgorithmIdentification(name, version, tuple(parameters), family)


def parse_finding_site(item: ContentItem) -> FindingSite:
    if item.code is None:
        raise SrParseError("Finding Site is not a CODE item", item.path)
    laterality = modifier = None
    for child in item.children:
        if child.concept_key == c.LATERALITY:
            laterality = child.code
        elif child.concept_key == c.TOPOGRAPHICAL_MODIFIER:
            modifier = child.code
    return FindingSite(item.code, laterality, modifier)


def parse_measurement_group(item: ContentItem, inherited_dt: str | None) -> MeasurementGroup:
    dt = item.observation_datetime or inherited_dt
    tracking_identifier = tracking_uid = source_series = None
    finding_category = finding = None
    measurements: list[Measurement] = []
    evaluations: list[QualitativeEvaluation] = []
    for child in item.children:
        key = child.concept_key
        if key == c.TRACKING_IDENTIFIER:
            tracking_identifier = child.text
        elif key == c.TRACKING_UID:
            tracking_uid = child.uid
        elif key == c.FINDING_CATEGORY:
            finding_category = child.code
        elif key == c.FINDING:
            finding = child.code
        elif key == c.SOURCE_SERIES_FOR_SEGMENTATION:
            source_series = child.uid
        elif child.value_type == "NUM":
            measurements.append(parse_measurement(child, dt))
        elif _is_group_evaluation(child):
            evaluations.append(parse_qualitative_evaluation(child, dt))
    return MeasurementGroup(
        observed=_observed(item, dt),
        template_id=item.template_id,
        tracking_identifier=tracking_identifier,
        tracking_uid=tracking_uid,
        finding_category=finding_category,
        finding=finding,
        source_series_uid=source_series,
        measurements=tuple(measurements),
        evaluations=tuple(evaluations),
    )


def _is_group_evaluation(item: ContentItem) -> bool:
    """CONTAINS TEXT/CODE children that are neither group context nor TID 4019 items."""
    return (
        item.value_type in ("TEXT", "CODE")
        and item.relationship == "CONTAINS"
        and item.concept_key not in c.NOT_QUALITATIVE_EVALUATIONS
        and item.concept_key not in c.ALGORITHM_ITEMS
    )


def parse_measurement(item: ContentItem, inherited_dt: str | None) -> Measurement:
    if item.numeric is None:
        raise SrParseError("NUM item without a value", item.path)
    derivation = next((ch.code for ch in item.children if ch.concept_key == c.DERIVATION), None)
    return Measurement(
        _observed(item, item.observation_datetime or inherited_dt), item.numeric, derivation
    )


def parse_qualitative_evaluation(
    item: ContentItem, inherited_dt: str | None
) -> QualitativeEvaluation:
    return QualitativeEvaluation(
        _observed(item, item.observation_datetime or inherited_dt), item.code, item.text
    )


def _observed(item: ContentItem, dt: str | None) -> Observed:
    """The item's own algorithm, finding site, method and image references (never inherited)."""
    finding_site = method = None
    for child in item.children:
        key = child.concept_key
        if key == c.FINDING_SITE:
            finding_site = parse_finding_site(child)
        elif key == c.MEASUREMENT_METHOD:
            method = child.code
    return Observed(
        path=item.path,
        concept=item.concept,
        observation_uid=item.observation_uid,
        observation_datetime=dt,
        algorithm=parse_algorithm(item.children),
        finding_site=finding_site,
        method=method,
        image_references=tuple(_image_references(item.children)),
    )


def _image_references(children: tuple[ContentItem, ...]) -> list[ImageReference]:
    found = []
    for child in children:
        key = child.concept_key
        if child.value_type == "SCOORD3D" and key in (c.IMAGE_REGION, c.VOLUME_SURFACE, None):
            kind = (
                SelectionKind.VOLUME_SURFACE
                if key == c.VOLUME_SURFACE
                else SelectionKind.IMAGE_REGION_3D
            )
            found.append(ImageReference(kind, child.path, child.concept, (), child.graphic))
        elif child.value_type == "SCOORD" and key in (c.IMAGE_REGION, None):
            refs = tuple(r for g in child.children if g.value_type == "IMAGE" for r in g.references)
            found.append(
                ImageReference(
                    SelectionKind.IMAGE_REGION_2D, child.path, child.concept, refs, child.graphic
                )
            )
        elif key in _SELECTION_BY_CONCEPT and child.references:
            found.append(
                ImageReference(
                    _SELECTION_BY_CONCEPT[key],
                    child.path,
                    child.concept,
                    child.references,
                    roi_identifiers=_roi_identifiers(child),
                )
            )
    return found


def _roi_identifiers(item: ContentItem) -> tuple[str, ...]:
    """Region In Space: EV (130489, DCM, "Referenced Region of Interest Identifier")."""
    found = []
    for child in item.children:
        if child.concept_key != c.REFERENCED_ROI_IDENTIFIER:
            continue
        if child.text:
            found.append(child.text)
        elif child.numeric is not None and child.numeric.value is not None:
            found.append(f"{child.numeric.value:g}")
    return tuple(found)


def _text_or_meaning(item: ContentItem) -> str:
    if item.text is not None:
        return item.text
    if item.code is not None:
        return item.code.meaning or item.code.value
    return ""
