"""The content tree: each item's value is the value class of its value type (PS3.3 C.17.3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset

from sr2fhir.errors import SrParseError
from sr2fhir.mapping import bundle_to_json, convert_dataset
from sr2fhir.mapping.content import ContentItem, parse_content_tree
from sr2fhir.mapping.value_types import (
    CodeValue,
    CompositeReference,
    ContainerValue,
    ContentReference,
    GraphicType,
    NumericValue,
    PersonNameValue,
    RelationshipType,
    SpatialCoordinates,
    SpatialCoordinates3D,
    TextValue,
    UidRefValue,
    ValueType,
)
from tests.support.sr.catalogue import ALL_GOOD
from tests.support.sr.reports import planar_report
from tests.support.sr.tree import imaging_measurements

VALUE_CLASS: dict[ValueType, type] = {
    ValueType.TEXT: TextValue,
    ValueType.CODE: CodeValue,
    ValueType.NUM: NumericValue,
    ValueType.UIDREF: UidRefValue,
    ValueType.PNAME: PersonNameValue,
    ValueType.CONTAINER: ContainerValue,
    ValueType.IMAGE: CompositeReference,
    ValueType.COMPOSITE: CompositeReference,
    ValueType.WAVEFORM: CompositeReference,
    ValueType.SCOORD: SpatialCoordinates,
    ValueType.SCOORD3D: SpatialCoordinates3D,
}


def _walk(item: ContentItem) -> Iterator[ContentItem]:
    yield item
    for child in item.children:
        yield from _walk(child)


def _code(value: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "99TEST", value
    return code


def _item(value_type: str, relationship: str = "CONTAINS", **elements: object) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [_code(f"name-of-{value_type}")]
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def _root(*children: Dataset) -> Dataset:
    root = Dataset()
    root.ValueType = "CONTAINER"
    root.ConceptNameCodeSequence = [_code("title")]
    root.ContentSequence = list(children)
    return root


def test_every_item_holds_the_value_class_of_its_value_type() -> None:
    seen: set[ValueType] = set()
    for build in ALL_GOOD.values():
        for item in _walk(parse_content_tree(build())):
            if item.value_type is None:  # a by-reference item
                assert isinstance(item.value, ContentReference), item.path
                continue
            seen.add(item.value_type)
            assert type(item.value) is VALUE_CLASS[item.value_type], item.path
    assert seen >= set(VALUE_CLASS) - {ValueType.WAVEFORM}


def test_an_undefined_value_type_is_kept_without_a_value_and_maps_to_nothing() -> None:
    """PS3.3 adds value types over time (TABLE): an item the mapping does not read is no error."""
    ds = planar_report()
    before = bundle_to_json(convert_dataset(ds))
    group = imaging_measurements(ds).ContentSequence[0]
    future = _item("FUTURE", relationship="HAS FUTURE", TextValue="x")
    future.ContentSequence = [_item("TEXT", TextValue="kept")]
    group.ContentSequence.append(future)

    parsed = parse_content_tree(ds)
    path = f"1.{len(ds.ContentSequence)}.1.{len(group.ContentSequence)}"
    item = next(i for i in _walk(parsed) if i.path == path)
    assert (item.value_type, item.relationship, item.value) == (None, None, None)
    assert item.children[0].value == TextValue("kept")
    assert bundle_to_json(convert_dataset(ds)) == before


def test_relationship_and_graphic_type_are_enums() -> None:
    scoord = _item("SCOORD", "INFERRED FROM", GraphicType="POINT", GraphicData=[1.0, 2.5])
    (item,) = parse_content_tree(_root(scoord)).children
    assert item.relationship is RelationshipType.INFERRED_FROM
    assert item.value_type is ValueType.SCOORD
    assert item.value == SpatialCoordinates(GraphicType.POINT, (1.0, 2.5))


@pytest.mark.parametrize(
    ("value_type", "graphic_type"),
    [("SCOORD", "HEXAGON"), ("SCOORD", "POLYGON"), ("SCOORD3D", "CIRCLE"), ("SCOORD3D", "")],
)
def test_a_graphic_type_not_defined_for_the_value_type_is_rejected_naming_the_item(
    value_type: str, graphic_type: str
) -> None:
    """Also where the mapping would not use the SCOORD (here: a concept it does not map)."""
    coordinates = _item(
        value_type,
        GraphicType=graphic_type,
        GraphicData=[1.0, 2.0, 3.0],
        ReferencedFrameOfReferenceUID="1.2.3",
    )
    reason = "no Graphic Type" if not graphic_type else f"Graphic Type '{graphic_type}' is not"
    with pytest.raises(SrParseError, match=f"{value_type} .*{reason}") as raised:
        parse_content_tree(_root(_item("TEXT", TextValue="x"), coordinates))
    assert raised.value.item_path == "1.2"
