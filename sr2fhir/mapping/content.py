"""Generic SR content tree: pydicom items -> frozen ContentItem values (PS3.3 C.17.3).

Each item keeps its content item identifier as a dotted path ("1.4.2": root is 1), which is
what error messages and deterministic resource ids are derived from. Anything the mapping
needs but cannot find raises SrParseError naming that path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sr2fhir.errors import SrParseError
from sr2fhir.mapping.codes import Code, normalise
from sr2fhir.mapping.dataset import ElementSource, as_text
from sr2fhir.mapping.value_types import (
    CodeValue,
    CompositeReference,
    ContainerValue,
    ContentReference,
    ContentValue,
    GraphicType,
    NumericValue,
    PersonNameValue,
    RelationshipType,
    SopReference,
    SpatialCoordinates,
    SpatialCoordinates3D,
    TextValue,
    UidRefValue,
    ValueType,
    defined_term,
)


@dataclass(frozen=True, slots=True)
class ContentItem:
    """One content item with its children; only the attributes the mapping reads.

    `value` matches `value_type` (CodeValue for CODE, NumericValue for NUM, ...). A by-reference
    item has a ContentReference and no value type; a value type the mapping does not read (DATE,
    TCOORD, ...) or that PS3.3 does not define has no value.
    """

    path: str
    relationship: RelationshipType | None
    value_type: ValueType | None
    concept: Code | None
    value: ContentValue | None = None
    children: tuple[ContentItem, ...] = ()
    observation_uid: str | None = None
    observation_datetime: str | None = None
    undefined_value_type: str | None = None  # as encoded, when PS3.3 does not define it

    @property
    def template_id(self) -> str | None:
        """Template Identifier of a CONTAINER (Content Template Sequence); else None."""
        return self.value.template_id if isinstance(self.value, ContainerValue) else None


def parse_code(item: ElementSource, where: str) -> Code:
    """Parse a Code Sequence item (Basic Code Sequence Macro), honouring long and URN codes."""
    designator = as_text(item.get("CodingSchemeDesignator"))
    meaning = as_text(item.get("CodeMeaning"))
    version = as_text(item.get("CodingSchemeVersion")) or None
    value = as_text(item.get("CodeValue"))
    is_urn = False
    if not value:
        value = as_text(item.get("LongCodeValue"))
    if not value:
        value = as_text(item.get("URNCodeValue"))
        is_urn = bool(value)
    if not value:
        raise SrParseError(f"code in {where} has no Code Value", None)
    if not designator and not is_urn:
        raise SrParseError(f"code {value!r} in {where} has no Coding Scheme Designator", None)
    return normalise(value, designator, meaning, version, is_urn)


def first_code(ds: ElementSource, keyword: str, where: str, path: str) -> Code | None:
    seq = ds.get(keyword)
    if not seq:
        return None
    try:
        return parse_code(seq[0], where)
    except SrParseError as exc:
        raise SrParseError(str(exc), path) from None


MAX_CONTENT_DEPTH = 50
"""Content tree levels a report may have. TID 1500's deepest paths have about 8 (Measurement
Report > Imaging Measurements > Measurement Group (TID 1501/1410/1411) > NUM (TID 300) > its
properties (TID 310) > statistical properties / normal range (TID 311/312) > their
modifiers; the test reports reach 5); 50 leaves vendor extensions ample room and keeps the
recursive readers far below Python's recursion limit. Deeper is a parse error, not a crash."""


def parse_content_tree(ds: ElementSource, max_items: int | None = None) -> ContentItem:
    """Parse the document root and its whole content tree; more than `max_items` content
    items (mapping.max_content_items) or MAX_CONTENT_DEPTH levels is an SrParseError."""
    return _TreeParser(max_items).item(ds, "1", None, 1)


class _TreeParser:
    """Walks the tree depth first, counting items against the limits as it goes."""

    __slots__ = ("items", "max_items")

    def __init__(self, max_items: int | None) -> None:
        self.max_items = max_items
        self.items = 0

    def item(
        self, item: ElementSource, path: str, relationship: RelationshipType | None, depth: int
    ) -> ContentItem:
        self.items += 1
        if self.max_items is not None and self.items > self.max_items:
            raise SrParseError(
                f"more than {self.max_items} content items (mapping.max_content_items)", path
            )
        if depth > MAX_CONTENT_DEPTH:
            raise SrParseError(
                f"content tree nested deeper than {MAX_CONTENT_DEPTH} levels "
                "(a TID 1500 report needs about 8)",
                _elided(path),
            )
        return self._parse(item, path, relationship, depth)

    def _parse(
        self, item: ElementSource, path: str, relationship: RelationshipType | None, depth: int
    ) -> ContentItem:
        by_reference = item.get("ReferencedContentItemIdentifier")
        if by_reference is not None:
            ordinals = by_reference if isinstance(by_reference, Sequence) else [by_reference]
            return ContentItem(
                path=path,
                relationship=relationship,
                value_type=None,
                concept=None,
                value=ContentReference(".".join(str(int(n)) for n in ordinals)),
            )
        encoded_type = as_text(item.get("ValueType"))
        if not encoded_type:
            raise SrParseError("content item has no Value Type (0040,A040)", path)
        value_type = defined_term(ValueType, encoded_type)  # undefined: kept, with no value
        concept = first_code(item, "ConceptNameCodeSequence", "Concept Name Code Sequence", path)
        if concept is None and value_type is ValueType.CONTAINER and path == "1":
            raise SrParseError("document has no Concept Name Code Sequence (title)", path)
        children = tuple(
            self.item(
                child,
                f"{path}.{n}",
                defined_term(RelationshipType, as_text(child.get("RelationshipType"))),
                depth + 1,
            )
            for n, child in enumerate(item.get("ContentSequence") or (), start=1)
        )
        return ContentItem(
            path=path,
            relationship=relationship,
            value_type=value_type,
            concept=concept,
            value=_parse_value(item, value_type, path),
            children=children,
            observation_uid=as_text(item.get("ObservationUID")) or None,
            observation_datetime=as_text(item.get("ObservationDateTime")) or None,
            undefined_value_type=encoded_type[:16] if value_type is None else None,
        )


def _elided(path: str) -> str:
    """A deep item's path, shortened for one log line: its first and last levels."""
    levels = path.split(".")
    return path if len(levels) <= 12 else ".".join([*levels[:6], "…", *levels[-5:]])


def _parse_value(
    item: ElementSource, value_type: ValueType | None, path: str
) -> ContentValue | None:
    """The value of the value types the mapping reads; None for the others."""
    if value_type is ValueType.TEXT:
        return TextValue(_required_text(item, "TextValue", value_type, path))
    if value_type is ValueType.CODE:
        code = first_code(item, "ConceptCodeSequence", "Concept Code Sequence", path)
        if code is None:
            raise SrParseError("CODE item has no Concept Code Sequence (0040,A168)", path)
        return CodeValue(code)
    if value_type is ValueType.UIDREF:
        return UidRefValue(_required_text(item, "UID", value_type, path))
    if value_type is ValueType.PNAME:
        return PersonNameValue(as_text(item.get("PersonName")))
    if value_type is ValueType.NUM:
        return _parse_numeric(item, path)
    if value_type in (ValueType.IMAGE, ValueType.COMPOSITE, ValueType.WAVEFORM):
        return CompositeReference(_parse_references(item, value_type, path))
    if value_type in (ValueType.SCOORD, ValueType.SCOORD3D):
        return _parse_graphic(item, value_type, path)
    if value_type is ValueType.CONTAINER:
        templates = item.get("ContentTemplateSequence")
        return ContainerValue(
            as_text(templates[0].get("TemplateIdentifier")) or None if templates else None
        )
    return None


def _parse_numeric(item: ElementSource, path: str) -> NumericValue:
    qualifier = first_code(item, "NumericValueQualifierCodeSequence", "qualifier", path)
    measured = item.get("MeasuredValueSequence")
    if not measured:
        return NumericValue(None, None, qualifier)
    mv = measured[0]
    unit = first_code(mv, "MeasurementUnitsCodeSequence", "Measurement Units", path)
    if unit is None:
        raise SrParseError("NUM item has no Measurement Units Code Sequence (0040,08EA)", path)
    value: float | None = None
    floating = mv.get("FloatingPointValue")
    raw = mv.get("NumericValue")
    if floating is not None and floating != "":
        value = float(floating)
    elif raw is not None and raw != "":
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SrParseError(f"NUM item has a non-numeric value {raw!r}", path) from None
    if value is not None and not math.isfinite(value):
        return NumericValue(None, unit, qualifier, non_finite=value)
    return NumericValue(value, unit, qualifier)


def _parse_references(
    item: ElementSource, value_type: ValueType, path: str
) -> tuple[SopReference, ...]:
    seq = item.get("ReferencedSOPSequence")
    if not seq:
        raise SrParseError(
            f"{value_type.value} item has no Referenced SOP Sequence (0008,1199)", path
        )
    refs = []
    for ref in seq:
        sop_class = as_text(ref.get("ReferencedSOPClassUID"))
        sop_instance = as_text(ref.get("ReferencedSOPInstanceUID"))
        if not sop_class or not sop_instance:
            raise SrParseError(
                f"{value_type.value} reference lacks a SOP Class or Instance UID", path
            )
        refs.append(
            SopReference(
                sop_class,
                sop_instance,
                _ints(ref.get("ReferencedFrameNumber")),
                _ints(ref.get("ReferencedSegmentNumber")),
            )
        )
    return tuple(refs)


def _parse_graphic(
    item: ElementSource, value_type: ValueType, path: str
) -> SpatialCoordinates | SpatialCoordinates3D:
    """SCOORD / SCOORD3D; a Graphic Type PS3.3 does not define for the value type is an error."""
    encoded_type = as_text(item.get("GraphicType"))
    data = item.get("GraphicData")
    if not encoded_type or data is None:
        raise SrParseError(f"{value_type.value} item has no Graphic Type or Graphic Data", path)
    values = data if isinstance(data, Sequence) else [data]
    if value_type is ValueType.SCOORD:
        graphic_type = _graphic_type(
            encoded_type, value_type, SpatialCoordinates.GRAPHIC_TYPES, path
        )
        return SpatialCoordinates(graphic_type, _coordinates(values, value_type, path))
    frame_of_reference = as_text(item.get("ReferencedFrameOfReferenceUID"))
    if not frame_of_reference:
        raise SrParseError("SCOORD3D item has no Referenced Frame of Reference UID", path)
    graphic_type = _graphic_type(encoded_type, value_type, SpatialCoordinates3D.GRAPHIC_TYPES, path)
    coordinates = _coordinates(values, value_type, path)
    if not coordinates or len(coordinates) % 3:
        raise SrParseError(
            f"SCOORD3D Graphic Data has {len(coordinates)} values, not (x, y, z) triplets", path
        )
    return SpatialCoordinates3D(graphic_type, coordinates, frame_of_reference)


def _coordinates(values: Sequence[Any], value_type: ValueType, path: str) -> tuple[float, ...]:
    coordinates = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in coordinates):
        raise SrParseError(f"{value_type.value} item has a NaN or infinite coordinate", path)
    return coordinates


def _graphic_type(
    encoded: str, value_type: ValueType, allowed: frozenset[GraphicType], path: str
) -> GraphicType:
    graphic_type = defined_term(GraphicType, encoded)
    if graphic_type is None or graphic_type not in allowed:
        raise SrParseError(f"{value_type.value} Graphic Type {encoded!r} is not defined", path)
    return graphic_type


def _required_text(item: ElementSource, keyword: str, value_type: ValueType, path: str) -> str:
    value = item.get(keyword)
    if value is None:
        raise SrParseError(f"{value_type.value} item has no {keyword}", path)
    return as_text(value)


def _ints(value: Any) -> tuple[int, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, (list, tuple)) or (
        hasattr(value, "__iter__") and not isinstance(value, str)
    ):
        return tuple(int(v) for v in value)
    return (int(value),)
