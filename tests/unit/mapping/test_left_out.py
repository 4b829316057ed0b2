"""What a report converts without: one machine-readable warning per item left out."""

from __future__ import annotations

import json
from typing import Any

from pydicom.dataset import Dataset

from sr2fhir.mapping import bundle_to_json, convert_dataset
from sr2fhir.mapping.convert import map_report
from sr2fhir.mapping.warnings import MappingWarning, WarningCode, warnings_document
from tests.support.sr.catalogue import ALL_GOOD, WITH_WARNINGS
from tests.support.sr.reports import planar_report
from tests.support.sr.tree import imaging_measurements


def _item(value_type: str, code: tuple[str, str, str], relationship: str, **values: Any) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = code
    item.ConceptNameCodeSequence = [name]
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _report_with_items_the_mapping_does_not_cover() -> Dataset:
    """The planar report plus: in group 1 a Geometric purpose CODE and an item of a future
    Value Type; in its first NUM an Equivalent Meaning TEXT; at the root a CONTAINS TEXT
    and an Image Library container (evidence: never listed)."""
    ds = planar_report()
    group = imaging_measurements(ds).ContentSequence[0]
    purpose = _item("CODE", ("130400", "DCM", "Geometric purpose of region"), "HAS CONCEPT MOD")
    purpose.ConceptCodeSequence = [Dataset()]
    concept = purpose.ConceptCodeSequence[0]
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = (
        "75958009",
        "SCT",
        "Bounded by",
    )
    future = _item("FUTURE", ("999", "99X", "From a later standard"), "CONTAINS")
    future.ContentSequence = [_item("TEXT", ("1", "99X", "Nested"), "CONTAINS", TextValue="x")]
    group.ContentSequence += [purpose, future]
    num = next(i for i in group.ContentSequence if i.ValueType == "NUM")
    num.ContentSequence = [
        *num.get("ContentSequence", []),
        _item(
            "TEXT",
            ("121050", "DCM", "Equivalent meaning of concept name"),
            "HAS CONCEPT MOD",
            TextValue="PHI-PATIENT-4711 must never be quoted",
        ),
    ]
    ds.ContentSequence += [
        _item("TEXT", ("121106", "DCM", "Comment"), "CONTAINS", TextValue="free text"),
        _item(
            "CONTAINER",
            ("111028", "DCM", "Image Library"),
            "CONTAINS",
            ContinuityOfContent="SEPARATE",
        ),
    ]
    return ds


def test_every_item_left_out_is_listed_once_with_its_path_and_reason() -> None:
    ds = _report_with_items_the_mapping_does_not_cover()
    result = map_report(ds)
    # planar: 1.6.1 is group 1 (12 children), 1.6.1.7 its NUM Length (1 child); root: 6 items
    assert [(w.code, w.item_path) for w in result.warnings] == [
        (WarningCode.ITEM_NOT_MAPPED, "1.6.1.7.2"),
        (WarningCode.ITEM_NOT_MAPPED, "1.6.1.13"),
        (WarningCode.UNKNOWN_VALUE_TYPE, "1.6.1.14"),
        (WarningCode.ITEM_NOT_MAPPED, "1.7"),
    ]
    messages = [w.message for w in result.warnings]
    assert messages[0] == (
        'TEXT (121050, DCM, "Equivalent meaning of concept name") in NUM (410668003, SCT, '
        '"Length"): the IG maps no such item here, not mapped'
    )
    assert messages[2].startswith("content item of Value Type 'FUTURE' in CONTAINER (125007")
    assert "PHI-PATIENT-4711" not in json.dumps([w.to_dict() for w in result.warnings])


def test_items_left_out_change_nothing_in_the_bundle() -> None:
    ds = _report_with_items_the_mapping_does_not_cover()
    assert bundle_to_json(convert_dataset(ds)) == bundle_to_json(convert_dataset(planar_report()))


def test_no_fixture_loses_anything() -> None:
    for name, build in ALL_GOOD.items():
        if name not in WITH_WARNINGS:
            assert map_report(build()).warnings == (), name


def test_the_ig_example_loses_its_activity_session(ig_example_dataset: Dataset) -> None:
    """TID 1501's Activity Session (NCIt C67447) is context the IG's profiles have no element
    for: listed, not dropped silently."""
    (warning,) = map_report(ig_example_dataset).warnings
    assert warning.code is WarningCode.ITEM_NOT_MAPPED
    assert warning.message.startswith('TEXT (C67447, NCIt, "Activity Session") in CONTAINER')


def test_warnings_are_json_ready() -> None:
    warning = MappingWarning(WarningCode.UNIT_CORRECTED, "1.6.1.7", "why")
    assert warning.to_dict() == {"code": "unit-corrected", "item_path": "1.6.1.7", "message": "why"}
    document = warnings_document("1.2.3", (warning,))
    assert json.loads(json.dumps(document)) == {
        "sop_instance_uid": "1.2.3",
        "warnings": [{"code": "unit-corrected", "item_path": "1.6.1.7", "message": "why"}],
    }
