"""SCOORD3D regions: frame of reference and the region itself (Graphic Type and Data)."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset

from sr2fhir.errors import SrParseError
from sr2fhir.mapping import convert_dataset
from sr2fhir.mapping.selections import XVER_IMAGE_REGION_3D
from tests.support.sr.references import frame_of_reference_uid
from tests.support.sr.tree import iter_items
from tests.support.sr.volumetric import scoord3d_report, volumetric_report
from tests.unit.mapping.bundle_view import by_ref, item_resource_id, one, resources

GRAPHIC_TYPES = ["POINT", "MULTIPOINT", "POLYLINE", "POLYGON", "ELLIPSE", "ELLIPSOID"]


@pytest.fixture(scope="module")
def report() -> tuple[Dataset, dict[str, Any]]:
    ds = scoord3d_report()
    return ds, convert_dataset(ds)


def _region(extension: dict[str, Any]) -> tuple[str, list[float]]:
    (region,) = [x for x in extension if x["url"] == XVER_IMAGE_REGION_3D]
    parts = region["extension"]
    (kind,) = [p["valueCode"] for p in parts if p["url"] == "regionType"]
    return kind, [p["valueDecimal"] for p in parts if p["url"] == "coordinate"]


@pytest.mark.parametrize("n", range(1, 7), ids=GRAPHIC_TYPES)
def test_each_graphic_type_maps_to_image_region_3d_with_its_coordinates(
    report: tuple[Dataset, dict[str, Any]], n: int
) -> None:
    ds, bundle = report
    path = f"1.6.{n}.7"
    item = dict(iter_items(ds))[path]
    selection_id = item_resource_id(ds, "ImagingSelection", path, f"1.6.{n}")
    selection = one([r for r in resources(bundle) if r["id"] == selection_id])
    assert selection["meta"]["profile"] == [
        "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/image-region-3d"
    ]
    assert selection["frameOfReferenceUid"] == frame_of_reference_uid()
    kind, coordinates = _region(selection["extension"])
    assert kind == GRAPHIC_TYPES[n - 1].lower() == item.GraphicType.lower()
    assert coordinates == [float(v) for v in item.GraphicData]
    assert len(coordinates) % 3 == 0
    group_id = item_resource_id(ds, "Observation", f"1.6.{n}")
    group = one([r for r in resources(bundle) if r["id"] == group_id])
    assert any(by_ref(bundle, ref) is selection for ref in group["derivedFrom"])


def test_the_extension_sits_where_fhir_json_puts_extensions() -> None:
    bundle = convert_dataset(volumetric_report())
    for selection in resources(bundle, "image-region-3d") + resources(bundle, "volume-surface"):
        assert list(selection)[:4] == ["resourceType", "id", "meta", "extension"]


@pytest.mark.parametrize("values", [[], [1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
def test_graphic_data_that_is_not_xyz_triplets_is_rejected(values: list[float]) -> None:
    ds = scoord3d_report()
    item = dict(iter_items(ds))["1.6.1.7"]
    item.GraphicData = values
    with pytest.raises(SrParseError, match=r"not \(x, y, z\) triplets") as raised:
        convert_dataset(ds)
    assert raised.value.item_path == "1.6.1.7"
