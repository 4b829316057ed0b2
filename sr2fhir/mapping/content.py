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
from sr2fhir.mapping.dataset import ElementSource


@dataclass(frozen=True, slots=True)
class SopReference:
    """One item of a Referenced SOP Sequence (IMAGE / COMPOSITE value types)."""

    sop_class_uid: str
    sop_instance_uid: str
    frame_numbers: tuple[int, ...] = ()
    segment_numbers: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NumericValue:
    """The value of a NUM item: a number with units, or a qualifier saying why there is none.

    `non_finite` keeps a NaN or +/-infinity the item encoded: never a FHIR decimal (nor
    valid JSON), so `value` is None then and the Observation says why (data-absent-reason).
    """

    value: float | None
    unit: Code | None
    qualifier: Code | None
    non_finite: float | None = None


@dataclass(frozen=True, slots=True)
class Graphic:
    """SCOORD / SCOORD3D data."""

    graphic_type: str
    data: tuple[float, ...]
    frame_of_reference_uid: str | None = None


@dataclass(frozen=True, slots=True)
class ContentItem:
    """One content item with its children; only the attributes the mapping reads."""

    path: str
    relationship: str | None
    value_type: str
    concept: Code | None
    children: tuple[ContentItem, ...] = ()
    observation_uid: str | None = None
    observation_datetime: str | None = None
    template_id: str | None = None
    text: str | None = None
    code: Code | None = None
    uid: str | None = None
    person_name: str | None = None
    numeric: NumericValue | None = None
    references: tuple[SopReference, ...] = ()
    graphic: Graphic | None = None
    referenced_path: str | None = None

    @property
    def concept_key(self) -> tuple[str, str] | None:
        return self.concept.key if self.concept is not None else None


def parse_code(item: ElementSource, where: str) -> Code:
    """Parse a Code Sequence item (Basic Code Sequence Macro), honouring long and URN codes."""
    designator = _str(item.get("CodingSchemeDesignator"))
    meaning = _str(item.get("CodeMeaning"))
    version = _str(item.get("CodingSchemeVersion")) or None
    value = _str(item.get("CodeValue"))
    is_urn = False
    if not value:
        value = _str(item.get("LongCodeValue"))
    if not value:
        value = _str(item.get("URNCodeValue"))
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
        self, item: ElementSource, path: str, relationship: str | None, depth: int
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
        self, item: ElementSource, path: str, relationship: str | None, depth: int
    ) -> ContentItem:
        by_reference = item.get("ReferencedContentItemIdentifier")
        if by_reference is not None:
            ordinals = by_reference if isinstance(by_reference, Sequence) else [by_reference]
            return ContentItem(
                path=path,
                relationship=relationship,
                value_type="BYREF",
                concept=None,
                referenced_path=".".join(str(int(n)) for n in ordinals),
            )
        value_type = _str(item.get("ValueType"))
        if not value_type:
            raise SrParseError("content item has no Value Type (0040,A040)", path)
        concept = first_code(item, "ConceptNameCodeSequence", "Concept Name Code Sequence", path)
        if concept is None and value_type == "CONTAINER" and path == "1":
            raise SrParseError("document has no Concept Name Code Sequence (title)", path)
        children = tuple(
            self.item(child, f"{path}.{n}", _str(child.get("RelationshipType")) or None, depth + 1)
            for n, child in enumerate(item.get("ContentSequence") or (), start=1)
        )
        templates = item.get("ContentTemplateSequence")
        fields: dict[str, Any] = {
            "observation_uid": _str(item.get("ObservationUID")) or None,
            "observation_datetime": _str(item.get("ObservationDateTime")) or None,
            "template_id": _str(templates[0].get("TemplateIdentifier")) or None
            if templates
            else None,
        }
        fields.update(_parse_value(item, value_type, path))
        return ContentItem(
            path=path,
            relationship=relationship,
            value_type=value_type,
            concept=concept,
            children=children,
            **fields,
        )


def _elided(path: str) -> str:
    """A deep item's path, shortened for one log line: its first and last levels."""
    levels = path.split(".")
    return path if len(levels) <= 12 else ".".join([*levels[:6], "…", *levels[-5:]])


def _parse_value(item: ElementSource, value_type: str, path: str) -> dict[str, Any]:
    if value_type == "TEXT":
        return {"text": _required_str(item, "TextValue", "TEXT", path)}
    if value_type == "CODE":
        code = first_code(item, "ConceptCodeSequence", "Concept Code Sequence", path)
        if code is None:
            raise SrParseError("CODE item has no Concept Code Sequence (0040,A168)", path)
        return {"code": code}
    if value_type == "UIDREF":
        return {"uid": _required_str(item, "UID", "UIDREF", path)}
    if value_type == "PNAME":
        return {"person_name": _str(item.get("PersonName"))}
    if value_type == "NUM":
        return {"numeric": _parse_numeric(item, path)}
    if value_type in ("IMAGE", "COMPOSITE", "WAVEFORM"):
        return {"references": _parse_references(item, value_type, path)}
    if value_type in ("SCOORD", "SCOORD3D"):
        return {"graphic": _parse_graphic(item, value_type, path)}
    return {}


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


def _parse_references(item: ElementSource, value_type: str, path: str) -> tuple[SopReference, ...]:
    seq = item.get("ReferencedSOPSequence")
    if not seq:
        raise SrParseError(f"{value_type} item has no Referenced SOP Sequence (0008,1199)", path)
    refs = []
    for ref in seq:
        sop_class = _str(ref.get("ReferencedSOPClassUID"))
        sop_instance = _str(ref.get("ReferencedSOPInstanceUID"))
        if not sop_class or not sop_instance:
            raise SrParseError(f"{value_type} reference lacks a SOP Class or Instance UID", path)
        refs.append(
            SopReference(
                sop_class,
                sop_instance,
                _ints(ref.get("ReferencedFrameNumber")),
                _ints(ref.get("ReferencedSegmentNumber")),
            )
        )
    return tuple(refs)


def _parse_graphic(item: ElementSource, value_type: str, path: str) -> Graphic:
    graphic_type = _str(item.get("GraphicType"))
    data = item.get("GraphicData")
    if not graphic_type or data is None:
        raise SrParseError(f"{value_type} item has no Graphic Type or Graphic Data", path)
    values = data if isinstance(data, Sequence) else [data]
    frame_of_reference = _str(item.get("ReferencedFrameOfReferenceUID")) or None
    if value_type == "SCOORD3D" and frame_of_reference is None:
        raise SrParseError("SCOORD3D item has no Referenced Frame of Reference UID", path)
    coordinates = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in coordinates):
        raise SrParseError(f"{value_type} item has a NaN or infinite coordinate", path)
    return Graphic(graphic_type, coordinates, frame_of_reference)


def _required_str(item: ElementSource, keyword: str, value_type: str, path: str) -> str:
    value = item.get(keyword)
    if value is None:
        raise SrParseError(f"{value_type} item has no {keyword}", path)
    return _str(value)


def _ints(value: Any) -> tuple[int, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, (list, tuple)) or (
        hasattr(value, "__iter__") and not isinstance(value, str)
    ):
        return tuple(int(v) for v in value)
    return (int(value),)


def _str(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()
