"""TID 1500 Measurement Report content -> small frozen values the FHIR builders read.

Templates: TID 1500 (Measurement Report), TID 1501 / 1410 / 1411 (measurement groups),
TID 300 / 1419 (measurements), TID 1420 (derived measurements), TID 4019 (algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto

from sr2fhir.errors import SrParseError
from sr2fhir.mapping import codes as c
from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.content import ContentItem
from sr2fhir.mapping.value_types import (
    CodeValue,
    CompositeReference,
    ContentReference,
    NumericValue,
    PersonNameValue,
    RelationshipType,
    SopReference,
    SpatialCoordinates,
    SpatialCoordinates3D,
    TextValue,
    UidRefValue,
    ValueType,
)


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


# IMAGE / COMPOSITE items, by concept name
_KIND_BY_CONCEPT: dict[Code, ImageReferenceKind] = {
    c.REFERENCED_SEGMENT: ImageReferenceKind.REFERENCED_SEGMENT,
    c.REFERENCED_SEGMENTATION_FRAME: ImageReferenceKind.REFERENCED_SEGMENTATION_FRAME,
    c.REGION_IN_SPACE: ImageReferenceKind.REGION_IN_SPACE,
    c.VOLUME_SURFACE: ImageReferenceKind.VOLUME_SURFACE,
    c.REAL_WORLD_VALUE_MAP: ImageReferenceKind.REAL_WORLD_VALUE_MAP,
    c.ILLUSTRATION_OF_ROI: ImageReferenceKind.ILLUSTRATION_OF_ROI,
    c.VISUAL_EXPLANATION: ImageReferenceKind.VISUAL_EXPLANATION,
    c.SOURCE_IMAGE_FOR_SEGMENTATION: ImageReferenceKind.SOURCE_IMAGE_FOR_SEGMENTATION,
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


def is_measurement_report(root: ContentItem) -> bool:
    """TID 1500 by template identifier, or by document title when the template id is absent."""
    if root.template_id is not None:
        return root.template_id == c.TID_1500
    return root.concept == c.IMAGING_MEASUREMENT_REPORT


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
        concept = item.concept
        if concept == c.PERSON_OBSERVER_NAME and isinstance(item.value, PersonNameValue):
            if item.value.name:
                self.person_observers.append(item.value.name)
        elif concept == c.IMAGING_MEASUREMENTS:
            for child in item.children:
                self.visit_container_child(child, item.observation_datetime)
        elif concept in (c.DERIVED_IMAGING_MEASUREMENTS, c.QUALITATIVE_EVALUATIONS):
            self.visit_container_child(item, None)

    def visit_container_child(self, item: ContentItem, inherited_dt: str | None) -> None:
        concept = item.concept
        dt = item.observation_datetime or inherited_dt
        if _is_measurement_group(item):
            self.groups.append(parse_measurement_group(item, dt))
        elif concept == c.DERIVED_IMAGING_MEASUREMENTS:
            self._visit_derived_container(item, dt)
        elif concept == c.QUALITATIVE_EVALUATIONS:
            for child in item.children:
                if child.value_type in _EVALUATION_TYPES and child.concept not in c.ALGORITHM_ITEMS:
                    self.evaluations.append(parse_qualitative_evaluation(child, dt))

    def _visit_derived_container(self, container: ContentItem, inherited_dt: str | None) -> None:
        dt = container.observation_datetime or inherited_dt
        nested: list[str] = []
        for child in container.children:
            if _is_measurement_group(child):
                self.groups.append(parse_measurement_group(child, dt))
                nested.append(child.path)
        for child in container.children:
            if child.value_type is not ValueType.NUM:
                continue
            cited: list[str] = []
            for grandchild in child.children:
                if isinstance(grandchild.value, ContentReference) and grandchild.value.path:
                    cited.append(grandchild.value.path)
                elif _is_measurement_group(grandchild):
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


_EVALUATION_TYPES = (ValueType.CODE, ValueType.TEXT)


def _is_measurement_group(item: ContentItem) -> bool:
    return item.concept == c.MEASUREMENT_GROUP and item.value_type is ValueType.CONTAINER


def _code(item: ContentItem) -> Code | None:
    """The Concept Code of a CODE item; None for any other item."""
    return item.value.code if isinstance(item.value, CodeValue) else None


def _text(item: ContentItem) -> str | None:
    """The Text Value of a TEXT item; None for any other item."""
    return item.value.text if isinstance(item.value, TextValue) else None


def _uid(item: ContentItem) -> str | None:
    """The UID of a UIDREF item; None for any other item."""
    return item.value.uid if isinstance(item.value, UidRefValue) else None


def _references(item: ContentItem) -> tuple[SopReference, ...]:
    """The Referenced SOP Sequence of an IMAGE / COMPOSITE / WAVEFORM item; else ()."""
    return item.value.references if isinstance(item.value, CompositeReference) else ()


def parse_algorithm(children: tuple[ContentItem, ...]) -> AlgorithmIdentification | None:
    """TID 4019 among an item's children; None without an Algorithm Name."""
    name: str | None = None
    version: str | None = None
    family: Code | None = None
    parameters: list[str] = []
    for child in children:
        concept = child.concept
        if concept == c.ALGORITHM_NAME:
            name = _text_or_meaning(child)
        elif concept == c.ALGORITHM_VERSION:
            version = _text_or_meaning(child)
        elif concept == c.ALGORITHM_PARAMETERS:
            parameters.append(_text_or_meaning(child))
        elif concept == c.ALGORITHM_FAMILY:
            family = _code(child)
    if not name:
        return None
    return AlgorithmIdentification(name, version, tuple(parameters), family)


def parse_finding_site(item: ContentItem) -> FindingSite:
    """EV (363698007, SCT, "Finding Site") with its Laterality / Topographical modifier."""
    site = _code(item)
    if site is None:
        raise SrParseError("Finding Site is not a CODE item", item.path)
    laterality = modifier = None
    for child in item.children:
        if child.concept == c.LATERALITY:
            laterality = _code(child)
        elif child.concept == c.TOPOGRAPHICAL_MODIFIER:
            modifier = _code(child)
    return FindingSite(site, laterality, modifier)


def parse_measurement_group(item: ContentItem, inherited_dt: str | None) -> MeasurementGroup:
    """TID 1501 / 1410 / 1411: the group's context, measurements and evaluations."""
    dt = item.observation_datetime or inherited_dt
    tracking_identifier = tracking_uid = source_series = None
    finding_category = finding = None
    measurements: list[Measurement] = []
    evaluations: list[QualitativeEvaluation] = []
    for child in item.children:
        concept = child.concept
        if concept == c.TRACKING_IDENTIFIER:
            tracking_identifier = _text(child)
        elif concept == c.TRACKING_UID:
            tracking_uid = _uid(child)
        elif concept == c.FINDING_CATEGORY:
            finding_category = _code(child)
        elif concept == c.FINDING:
            finding = _code(child)
        elif concept == c.SOURCE_SERIES_FOR_SEGMENTATION:
            source_series = _uid(child)
        elif child.value_type is ValueType.NUM:
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
        item.value_type in _EVALUATION_TYPES
        and item.relationship is RelationshipType.CONTAINS
        and item.concept not in c.NOT_QUALITATIVE_EVALUATIONS
        and item.concept not in c.ALGORITHM_ITEMS
    )


def parse_measurement(item: ContentItem, inherited_dt: str | None) -> Measurement:
    """TID 300 / 1419 NUM with its own Derivation modifier."""
    if not isinstance(item.value, NumericValue):
        raise SrParseError("NUM item without a value", item.path)
    derivation = next((_code(ch) for ch in item.children if ch.concept == c.DERIVATION), None)
    return Measurement(
        _observed(item, item.observation_datetime or inherited_dt), item.value, derivation
    )


def parse_qualitative_evaluation(
    item: ContentItem, inherited_dt: str | None
) -> QualitativeEvaluation:
    return QualitativeEvaluation(
        _observed(item, item.observation_datetime or inherited_dt), _code(item), _text(item)
    )


def _observed(item: ContentItem, dt: str | None) -> Observed:
    """The item's own algorithm, finding site, method and image references (never inherited)."""
    finding_site = method = None
    for child in item.children:
        if child.concept == c.FINDING_SITE:
            finding_site = parse_finding_site(child)
        elif child.concept == c.MEASUREMENT_METHOD:
            method = _code(child)
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
        concept, value = child.concept, child.value
        if isinstance(value, SpatialCoordinates3D) and concept in (
            c.IMAGE_REGION,
            c.VOLUME_SURFACE,
            None,
        ):
            kind = (
                ImageReferenceKind.VOLUME_SURFACE
                if concept == c.VOLUME_SURFACE
                else ImageReferenceKind.IMAGE_REGION_3D
            )
            found.append(ImageReference(kind, child.path, concept, (), value))
        elif isinstance(value, SpatialCoordinates) and concept in (c.IMAGE_REGION, None):
            refs = tuple(
                r for g in child.children if g.value_type is ValueType.IMAGE for r in _references(g)
            )
            found.append(
                ImageReference(ImageReferenceKind.IMAGE_REGION_2D, child.path, concept, refs, value)
            )
        elif concept in _KIND_BY_CONCEPT and _references(child):
            found.append(
                ImageReference(
                    _KIND_BY_CONCEPT[concept],
                    child.path,
                    concept,
                    _references(child),
                    roi_identifiers=_roi_identifiers(child),
                )
            )
    return found


def _roi_identifiers(item: ContentItem) -> tuple[str, ...]:
    """Region In Space: EV (130489, DCM, "Referenced Region of Interest Identifier")."""
    found = []
    for child in item.children:
        if child.concept != c.REFERENCED_ROI_IDENTIFIER:
            continue
        value = child.value
        if isinstance(value, TextValue) and value.text:
            found.append(value.text)
        elif isinstance(value, NumericValue) and value.value is not None:
            found.append(f"{value.value:g}")
    return tuple(found)


def _text_or_meaning(item: ContentItem) -> str:
    value = item.value
    if isinstance(value, TextValue):
        return value.text
    if isinstance(value, CodeValue):
        return value.code.meaning or value.code.value
    return ""
