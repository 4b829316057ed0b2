"""A TID 1500 content tree -> MeasurementReport; every item it reads is marked as read.

Templates: TID 1500 (Measurement Report), TID 1501 / 1410 / 1411 (measurement groups),
TID 300 / 1419 (measurements), TID 1420 (derived measurements), TID 4019 (algorithm).
What stays unread becomes a warning (left_out.py): nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sr2fhir.errors import SrParseError
from sr2fhir.mapping import codes as c
from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.content import ContentItem
from sr2fhir.mapping.left_out import left_out
from sr2fhir.mapping.report import (
    AlgorithmIdentification,
    DerivedMeasurement,
    FindingSite,
    ImageReference,
    ImageReferenceKind,
    Measurement,
    MeasurementGroup,
    MeasurementReport,
    Observed,
    QualitativeEvaluation,
)
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
_EVALUATION_TYPES = (ValueType.CODE, ValueType.TEXT)


def parse_measurement_report(root: ContentItem) -> MeasurementReport:
    """Walk a TID 1500 root: observers, the three containers, groups and their members;
    `skipped` lists what the walk did not read."""
    if root.concept is None:
        raise SrParseError("document has no title", root.path)
    walker = _ReportWalker()
    walker.read.add(root.path)
    for child in root.children:
        walker.visit_root_child(child)
    derived = walker.resolve_derived()
    return MeasurementReport(
        title=root.concept,
        person_observers=tuple(walker.person_observers),
        groups=tuple(walker.groups),
        evaluations=tuple(walker.evaluations),
        derived=tuple(derived),
        skipped=left_out(root, walker.read),
    )


@dataclass
class _ReportWalker:
    read: set[str] = field(default_factory=set)
    person_observers: list[str] = field(default_factory=list)
    groups: list[MeasurementGroup] = field(default_factory=list)
    evaluations: list[QualitativeEvaluation] = field(default_factory=list)
    # (NUM item, cited group paths, nested group paths, inherited Observation DateTime)
    derived_items: list[tuple[ContentItem, tuple[str, ...], tuple[str, ...], str | None]] = field(
        default_factory=list
    )

    def take(self, item: ContentItem) -> ContentItem:
        """Mark an item as read (mapped, or consumed by the item it belongs to)."""
        self.read.add(item.path)
        return item

    def visit_root_child(self, item: ContentItem) -> None:
        concept = item.concept
        if concept == c.PERSON_OBSERVER_NAME and isinstance(item.value, PersonNameValue):
            self.take(item)
            if item.value.name:
                self.person_observers.append(item.value.name)
        elif concept == c.IMAGING_MEASUREMENTS:
            self.take(item)
            for child in item.children:
                self.visit_container_child(child, item.observation_datetime)
        elif concept in (c.DERIVED_IMAGING_MEASUREMENTS, c.QUALITATIVE_EVALUATIONS):
            self.visit_container_child(item, None)

    def visit_container_child(self, item: ContentItem, inherited_dt: str | None) -> None:
        concept = item.concept
        dt = item.observation_datetime or inherited_dt
        if _is_measurement_group(item):
            self.groups.append(self.measurement_group(item, dt))
        elif concept == c.DERIVED_IMAGING_MEASUREMENTS:
            self._visit_derived_container(self.take(item), dt)
        elif concept == c.QUALITATIVE_EVALUATIONS:
            self.take(item)
            for child in item.children:
                if child.value_type in _EVALUATION_TYPES and child.concept not in c.ALGORITHM_ITEMS:
                    self.evaluations.append(self.qualitative_evaluation(child, dt))

    def _visit_derived_container(self, container: ContentItem, inherited_dt: str | None) -> None:
        dt = container.observation_datetime or inherited_dt
        nested: list[str] = []
        for child in container.children:
            if _is_measurement_group(child):
                self.groups.append(self.measurement_group(child, dt))
                nested.append(child.path)
        for child in container.children:
            if child.value_type is not ValueType.NUM:
                continue
            cited: list[str] = []
            for grandchild in child.children:
                if isinstance(grandchild.value, ContentReference) and grandchild.value.path:
                    self.take(grandchild)
                    cited.append(grandchild.value.path)
                elif _is_measurement_group(grandchild):
                    self.groups.append(self.measurement_group(grandchild, dt))
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
            measurement = self.measurement(item, dt)
            resolved.append(DerivedMeasurement(measurement, paths))
        return resolved

    def algorithm(self, children: tuple[ContentItem, ...]) -> AlgorithmIdentification | None:
        """TID 4019 among an item's children; None (and nothing read) without a name."""
        name: str | None = None
        version: str | None = None
        family: Code | None = None
        parameters: list[str] = []
        items = [child for child in children if child.concept in c.ALGORITHM_ITEMS]
        for child in items:
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
        for child in items:
            self.take(child)
        return AlgorithmIdentification(name, version, tuple(parameters), family)

    def finding_site(self, item: ContentItem) -> FindingSite:
        """EV (363698007, SCT, "Finding Site") with its Laterality / Topographical modifier."""
        site = _code(self.take(item))
        if site is None:
            raise SrParseError("Finding Site is not a CODE item", item.path)
        laterality = modifier = None
        for child in item.children:
            if child.concept == c.LATERALITY:
                laterality = _code(self.take(child))
            elif child.concept == c.TOPOGRAPHICAL_MODIFIER:
                modifier = _code(self.take(child))
        return FindingSite(site, laterality, modifier)

    def measurement_group(self, item: ContentItem, inherited_dt: str | None) -> MeasurementGroup:
        """TID 1501 / 1410 / 1411: the group's context, measurements and evaluations."""
        dt = self.take(item).observation_datetime or inherited_dt
        tracking_identifier = tracking_uid = source_series = None
        finding_category = finding = None
        measurements: list[Measurement] = []
        evaluations: list[QualitativeEvaluation] = []
        for child in item.children:
            concept = child.concept
            if concept == c.TRACKING_IDENTIFIER:
                tracking_identifier = _text(self.take(child))
            elif concept == c.TRACKING_UID:
                tracking_uid = _uid(self.take(child))
            elif concept == c.FINDING_CATEGORY:
                finding_category = _code(self.take(child))
            elif concept == c.FINDING:
                finding = _code(self.take(child))
            elif concept == c.SOURCE_SERIES_FOR_SEGMENTATION:
                source_series = _uid(self.take(child))
            elif child.value_type is ValueType.NUM:
                measurements.append(self.measurement(child, dt))
            elif _is_group_evaluation(child):
                evaluations.append(self.qualitative_evaluation(child, dt))
        return MeasurementGroup(
            observed=self.observed(item, dt),
            template_id=item.template_id,
            tracking_identifier=tracking_identifier,
            tracking_uid=tracking_uid,
            finding_category=finding_category,
            finding=finding,
            source_series_uid=source_series,
            measurements=tuple(measurements),
            evaluations=tuple(evaluations),
        )

    def measurement(self, item: ContentItem, inherited_dt: str | None) -> Measurement:
        """TID 300 / 1419 NUM with its own Derivation modifier."""
        if not isinstance(item.value, NumericValue):
            raise SrParseError("NUM item without a value", item.path)
        self.take(item)
        derivation = next(
            (_code(self.take(ch)) for ch in item.children if ch.concept == c.DERIVATION), None
        )
        dt = item.observation_datetime or inherited_dt
        return Measurement(self.observed(item, dt), item.value, derivation)

    def qualitative_evaluation(
        self, item: ContentItem, inherited_dt: str | None
    ) -> QualitativeEvaluation:
        self.take(item)
        observed = self.observed(item, item.observation_datetime or inherited_dt)
        return QualitativeEvaluation(observed, _code(item), _text(item))

    def observed(self, item: ContentItem, dt: str | None) -> Observed:
        """The item's own algorithm, finding site, method and image references (never
        inherited)."""
        finding_site = method = None
        for child in item.children:
            if child.concept == c.FINDING_SITE:
                finding_site = self.finding_site(child)
            elif child.concept == c.MEASUREMENT_METHOD:
                method = _code(self.take(child))
        return Observed(
            path=item.path,
            concept=item.concept,
            observation_uid=item.observation_uid,
            observation_datetime=dt,
            algorithm=self.algorithm(item.children),
            finding_site=finding_site,
            method=method,
            image_references=tuple(self.image_references(item.children)),
        )

    def image_references(self, children: tuple[ContentItem, ...]) -> list[ImageReference]:
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
                found.append(ImageReference(kind, self.take(child).path, concept, (), value))
            elif isinstance(value, SpatialCoordinates) and concept in (c.IMAGE_REGION, None):
                images = [g for g in child.children if g.value_type is ValueType.IMAGE]
                refs = tuple(r for g in images for r in _references(self.take(g)))
                found.append(
                    ImageReference(
                        ImageReferenceKind.IMAGE_REGION_2D,
                        self.take(child).path,
                        concept,
                        refs,
                        value,
                    )
                )
            elif concept in _KIND_BY_CONCEPT and _references(child):
                found.append(
                    ImageReference(
                        _KIND_BY_CONCEPT[concept],
                        self.take(child).path,
                        concept,
                        _references(child),
                        roi_identifiers=self.roi_identifiers(child),
                    )
                )
        return found

    def roi_identifiers(self, item: ContentItem) -> tuple[str, ...]:
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
            else:
                continue
            self.take(child)
        return tuple(found)


def _path_order(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split("."))


def _is_measurement_group(item: ContentItem) -> bool:
    return item.concept == c.MEASUREMENT_GROUP and item.value_type is ValueType.CONTAINER


def _is_group_evaluation(item: ContentItem) -> bool:
    """CONTAINS TEXT/CODE children that are neither group context nor TID 4019 items."""
    return (
        item.value_type in _EVALUATION_TYPES
        and item.relationship is RelationshipType.CONTAINS
        and item.concept not in c.NOT_QUALITATIVE_EVALUATIONS
        and item.concept not in c.ALGORITHM_ITEMS
    )


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


def _text_or_meaning(item: ContentItem) -> str:
    value = item.value
    if isinstance(value, TextValue):
        return value.text
    if isinstance(value, CodeValue):
        return value.code.meaning or value.code.value
    return ""
