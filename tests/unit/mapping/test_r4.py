"""R4 output: every resource parses with fhirclient's strict R4 (4.0.1) models."""

from __future__ import annotations

from typing import Any

import fhirclient.models.bodystructure as r4_body_structure
import fhirclient.models.bundle as r4_bundle
import fhirclient.models.device as r4_device
import fhirclient.models.observation as r4_observation
import pytest

from sr2fhir.mapping import convert_dataset
from sr2fhir.mapping.r4 import XVER_BODY_STRUCTURE, to_r4
from tests.support.sr.catalogue import ALL_GOOD

R4_MODELS: dict[str, Any] = {
    "Observation": r4_observation.Observation,
    "Device": r4_device.Device,
    "BodyStructure": r4_body_structure.BodyStructure,
}


@pytest.mark.parametrize("name", sorted(ALL_GOOD))
def test_every_r4_resource_parses_strictly(name: str) -> None:
    r5 = convert_dataset(ALL_GOOD[name]())
    r4 = to_r4(r5)
    r4_bundle.Bundle(r4, strict=True)
    for entry in r4["entry"]:
        resource = entry["resource"]
        R4_MODELS[resource["resourceType"]](resource, strict=True)
    assert any(e["resource"]["resourceType"] == "ImagingSelection" for e in r5["entry"])


def test_no_imaging_selection_and_no_dangling_reference_remains() -> None:
    r4 = to_r4(convert_dataset(ALL_GOOD["volumetric"]()))
    urls = {e["fullUrl"] for e in r4["entry"]}
    text = str(r4)
    assert "ImagingSelection" not in text
    for entry in r4["entry"]:
        for ref in entry["resource"].get("derivedFrom", []) + entry["resource"].get(
            "hasMember", []
        ):
            assert ref["reference"] in urls


def test_body_structure_reference_moves_to_the_cross_version_extension() -> None:
    r4 = to_r4(convert_dataset(ALL_GOOD["planar"]()))
    group = next(e["resource"] for e in r4["entry"] if e["resource"].get("category"))
    extension = next(x for x in group["extension"] if x["url"] == XVER_BODY_STRUCTURE)
    site = next(
        e["resource"]
        for e in r4["entry"]
        if e["fullUrl"] == extension["valueReference"]["reference"]
    )
    assert site["resourceType"] == "BodyStructure" and site["location"]["coding"]
    assert site["locationQualifier"][0]["coding"][0]["code"] == "7771000"  # Left


def test_r5_input_is_left_unchanged() -> None:
    r5 = convert_dataset(ALL_GOOD["planar"]())
    before = str(r5)
    to_r4(r5)
    assert str(r5) == before


def test_provenance_targets_follow_the_dropped_selections() -> None:
    from sr2fhir.mapping import MappingOptions

    r4 = to_r4(convert_dataset(ALL_GOOD["volumetric"](), MappingOptions(provenance=True)))
    provenance = r4["entry"][-1]["resource"]
    urls = {e["fullUrl"] for e in r4["entry"]}
    assert provenance["resourceType"] == "Provenance"
    assert {t["reference"] for t in provenance["target"]} == urls - {r4["entry"][-1]["fullUrl"]}
