"""The IG's own example SR maps to the same resources, profiles, codes and references as the
IG's example instances (where they disagree with the DICOM, the DICOM wins: docs/mapping.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from sr2fhir.mapping import bundle_to_json, convert_dataset
from tests.support.golden import assert_matches_golden
from tests.unit.mapping.bundle_view import by_ref, codes, one, resources

SCT = "http://snomed.info/sct"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture(scope="module")
def bundle(ig_example_dataset: Dataset) -> dict[str, Any]:
    return convert_dataset(ig_example_dataset)


def _example(ig_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ig_dir / "resources" / f"{name}.json").read_text())
    return data


def test_example_maps_to_the_resource_set_of_the_ig_example(bundle: dict[str, Any]) -> None:
    profiles = sorted(r["meta"]["profile"][0].rsplit("/", 1)[1] for r in resources(bundle))
    assert profiles == [
        "algorithm-identification",
        "dicom-general-equipment",
        "dicom-sr-finding-site",
        "imaging-measurement",
        "imaging-measurement",
        "imaging-measurement",
        "imaging-measurement-group",
        "imaging-qualitative-evaluation",
        "imaging-qualitative-evaluation",
        "referenced-segment",
    ]


@pytest.mark.parametrize(
    "example",
    [
        "Observation-imaging-measurement-group",
        "Observation-imaging-measurement-001",
        "Observation-imaging-measurement-002",
        "Observation-imaging-measurement-003",
        "Observation-qualitative-evaluation-001",
        "Observation-qualitative-evaluation-002",
    ],
)
def test_each_example_observation_has_a_twin_with_same_profile_code_and_category(
    bundle: dict[str, Any], ig_dir: Path, example: str
) -> None:
    expected = _example(ig_dir, example)
    twin = one(
        [
            r
            for r in resources(bundle)
            if r.get("code") and codes(r["code"]) == codes(expected["code"])
        ]
    )
    assert twin["meta"]["profile"] == expected["meta"]["profile"]
    assert [codes(c) for c in twin.get("category", [])] == [
        codes(c) for c in expected.get("category", [])
    ]
    assert twin["status"] == expected["status"]
    if "valueQuantity" in expected:
        assert twin["valueQuantity"]["code"] == expected["valueQuantity"]["code"]
        assert twin["valueQuantity"]["system"] == expected["valueQuantity"]["system"]
    if "valueCodeableConcept" in expected:
        got = [c for _, c in codes(twin["valueCodeableConcept"])]
        assert got == [c for _, c in codes(expected["valueCodeableConcept"])]
    # The references the example instances carry, each present and resolvable in the Bundle.
    for element in ("bodyStructure", "device"):
        if element in expected:
            by_ref(bundle, twin[element])
    assert twin["subject"]["identifier"]["value"] == "PID-11235"
    assert twin["partOf"][0]["identifier"]["value"].endswith("83311413144566317081790268995")


def test_group_links_members_site_segment_and_equipment(bundle: dict[str, Any]) -> None:
    group = one(resources(bundle, "imaging-measurement-group"))
    members = [by_ref(bundle, m) for m in group["hasMember"]]
    assert sorted(m["meta"]["profile"][0].rsplit("/", 1)[1] for m in members) == (
        ["imaging-measurement"] * 3 + ["imaging-qualitative-evaluation"] * 2
    )
    segment = by_ref(bundle, one(group["derivedFrom"]))
    assert segment["instance"][0]["subset"] == ["1"]
    assert segment["instance"][0]["sopClass"]["code"] == "1.2.840.10008.5.1.4.1.1.66.4"
    site = by_ref(bundle, group["bodyStructure"])
    assert codes(site["includedStructure"][0]["structure"]) == [(SCT, "39607008")]  # Lung
    assert [i["value"] for i in site["identifier"]] == [
        "Nodule 1",
        "urn:oid:1.2.840.113747.20080222.83311413144566317081790268995.100",
    ]
    assert "bodySite" not in group
    equipment = by_ref(bundle, group["device"])
    assert equipment["displayName"] == "Example Imaging Measurement Device"


def test_measurements_use_the_dicom_values_and_their_algorithm(bundle: dict[str, Any]) -> None:
    values = {
        codes(m["code"])[0][1]: m["valueQuantity"]["value"]
        for m in resources(bundle, "imaging-measurement")
    }
    # The DICOM wins over the example instances (6705.55 for both volume and diameter).
    assert values == {"118565006": 31112.2, "81827009": 49.94462, "301898006": 9026.567}
    algorithms = {
        by_ref(bundle, m["device"])["displayName"] for m in resources(bundle, "imaging-measurement")
    }
    assert algorithms == {"pylidc"}
    algorithm = one(resources(bundle, "algorithm-identification"))
    assert algorithm["version"] == [{"value": "0.2.0"}]
    assert by_ref(bundle, algorithm["parent"])["meta"]["profile"][0].endswith("general-equipment")


def test_evaluations_keep_the_group_segment_and_site(bundle: dict[str, Any]) -> None:
    for evaluation in resources(bundle, "imaging-qualitative-evaluation"):
        assert by_ref(bundle, evaluation["bodyStructure"])["resourceType"] == "BodyStructure"
        assert by_ref(bundle, one(evaluation["derivedFrom"]))["resourceType"] == "ImagingSelection"
        assert by_ref(bundle, evaluation["device"])["meta"]["profile"][0].endswith(
            "dicom-general-equipment"
        )


def test_document_attributes(bundle: dict[str, Any]) -> None:
    group = one(resources(bundle, "imaging-measurement-group"))
    assert group["issued"] == "2019-03-23T08:24:28+00:00"
    assert group["contained"][0]["name"][0]["family"] == "RADIOLOGIST"
    assert group["performer"] == [{"reference": "#performer-1", "type": "Practitioner"}]
    assert group["basedOn"][0]["identifier"]["value"] == "ACSN-235813"
    assert group["basedOn"][0]["identifier"]["system"] == "http://test-hospital.org/acsn"


def test_example_bundle_matches_golden(bundle: dict[str, Any]) -> None:
    assert_matches_golden("ig-example", bundle_to_json(bundle, indent=2))
