"""One test per row of docs/mapping.md, on reports built by tests/support/sr/."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydicom.dataset import Dataset

from sr2fhir.mapping import convert_dataset
from tests.support.sr.catalogue import ALL_GOOD
from tests.support.sr.documents import as_sop_class
from tests.support.sr.reports import (
    finding_site_without_modifiers_report,
    large_report,
    no_observation_uid_report,
    qualifier_report,
)
from tests.support.sr.templates import drop_children
from tests.support.sr.tree import iter_items
from tests.unit.mapping.bundle_view import IG, by_ref, codes, item_resource_id, one, resources

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"


def _observation_at(bundle: dict[str, Any], ds: Dataset, path: str) -> dict[str, Any]:
    wanted = item_resource_id(ds, "Observation", path)
    return one([r for r in resources(bundle) if r["id"] == wanted])


def _items(ds: Dataset) -> dict[str, Dataset]:
    return dict(iter_items(ds))


def _concept(item: Dataset) -> str | None:
    names = item.get("ConceptNameCodeSequence")
    return str(names[0].CodeValue) if names else None


def _algorithm_name(item: Dataset) -> str | None:
    for child in item.get("ContentSequence") or ():
        if _concept(child) == "111001":
            return str(child.get("TextValue") or child.ConceptCodeSequence[0].CodeMeaning)
    return None


@pytest.fixture(scope="module")
def converted() -> dict[str, tuple[Dataset, dict[str, Any]]]:
    out = {}
    for name, build in ALL_GOOD.items():
        ds = build()
        out[name] = (ds, convert_dataset(ds))
    return out


def test_device_is_the_items_own_algorithm_else_the_equipment(converted: Any) -> None:
    checked = 0
    for name in ("planar", "volumetric", "qualitative-root", "derived-root"):
        ds, bundle = converted[name]
        for path, item in _items(ds).items():
            wanted = item_resource_id(ds, "Observation", path)
            found = [r for r in resources(bundle) if r["id"] == wanted]
            if not found:
                continue
            device = by_ref(bundle, found[0]["device"])
            own = _algorithm_name(item)
            if own is None:
                assert device["meta"]["profile"] == [IG + "dicom-general-equipment"], path
            else:
                assert device["displayName"] == own, path
                assert by_ref(bundle, device["parent"])["meta"]["profile"] == [
                    IG + "dicom-general-equipment"
                ]
            checked += 1
    assert checked > 20


def test_one_algorithm_device_per_distinct_algorithm(converted: Any) -> None:
    _, bundle = converted["planar"]
    devices = resources(bundle, "algorithm-identification")
    keys = [(d["displayName"], str(d.get("version"))) for d in devices]
    assert len(keys) == len(set(keys)) >= 1
    users = [
        r
        for r in resources(bundle)
        if r.get("device", {}).get("reference") == f"urn:uuid:{devices[0]['id']}"
    ]
    assert users


def test_group_code_is_finding_category_with_category_125007(converted: Any) -> None:
    _, bundle = converted["planar"]
    for group in resources(bundle, "imaging-measurement-group"):
        assert [codes(c) for c in group["category"]] == [[(DCM, "125007")]]
        assert codes(group["code"]) == [(SCT, "49755003")]  # Morphologically abnormal structure
        assert codes(group["valueCodeableConcept"]) == [(SCT, "27925004")]  # Nodule
        assert group["method"]["coding"][0]["code"] == "126081"  # RECIST 1.1


def test_group_without_finding_category_has_code_125007_and_no_category() -> None:
    ds = copy.deepcopy(finding_site_without_modifiers_report())
    for item in _items(ds).values():
        if item.get("ValueType") == "CONTAINER" and _concept(item) == "125007":
            drop_children(item, {"276214006"})
    bundle = convert_dataset(ds)
    group = one(resources(bundle, "imaging-measurement-group"))
    assert codes(group["code"]) == [(DCM, "125007")]
    assert "category" not in group


def test_finding_site_with_laterality_becomes_body_structure(converted: Any) -> None:
    _, bundle = converted["planar"]
    lateral = [
        s
        for s in resources(bundle, "dicom-sr-finding-site")
        if "laterality" in s["includedStructure"][0]
    ]
    assert lateral
    site = lateral[0]
    assert codes(site["includedStructure"][0]["laterality"]) == [(SCT, "7771000")]  # Left
    assert site["patient"]["identifier"]["value"] == "PHI-PATIENT-4711"
    users = [
        r
        for r in resources(bundle)
        if r.get("bodyStructure", {}).get("reference") == f"urn:uuid:{site['id']}"
    ]
    assert users and all("bodySite" not in u for u in users)


def test_finding_site_without_modifiers_or_tracking_is_body_site() -> None:
    bundle = convert_dataset(finding_site_without_modifiers_report())
    group = one(resources(bundle, "imaging-measurement-group"))
    if resources(bundle, "dicom-sr-finding-site"):  # the group has tracking identifiers
        assert "bodyStructure" in group
    else:
        assert "bodySite" in group and "bodyStructure" not in group


def test_tracking_ids_without_finding_site_go_on_the_group_identifier(converted: Any) -> None:
    _, bundle = converted["tracking-without-site"]
    group = one(resources(bundle, "imaging-measurement-group"))
    types = [i["type"]["coding"][0]["code"] for i in group["identifier"] if "type" in i]
    assert "112039" in types and "112040" in types
    assert not resources(bundle, "dicom-sr-finding-site")
    uid = next(i for i in group["identifier"] if i["type"]["coding"][0]["code"] == "112040")
    assert uid["system"] == "urn:dicom:uid" and uid["value"].startswith("urn:oid:2.25.")


def test_num_with_qualifier_has_no_invented_value(converted: Any) -> None:
    _, bundle = converted["qualifier"]
    measurements = resources(bundle, "imaging-measurement")
    absent = [m for m in measurements if "value" not in m["valueQuantity"]]
    present = [m for m in measurements if "value" in m["valueQuantity"]]
    assert len(absent) == 1 and len(present) == 1
    extension = one(absent[0]["valueQuantity"]["extension"])
    assert extension == {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "not-a-number",
    }
    assert "Not a number" in absent[0]["note"][0]["text"]
    assert "dataAbsentReason" not in absent[0]  # obs-6: not beside a value[x]
    assert present[0]["valueQuantity"]["system"] == "http://unitsofmeasure.org"


def test_srt_codes_become_sct_and_odd_designators_keep_their_meaning(converted: Any) -> None:
    _, bundle = converted["srt-codes"]
    text = str(bundle)
    assert "T-28000" not in text and "'39607008'" in text  # SRT Lung -> SCT
    assert "urn:sr2fhir:dicom-csd:99XYZ" in text
    assert "urn:ietf:rfc:3986" in text  # URN Code Value


def test_text_evaluations_are_codeable_concept_text(converted: Any) -> None:
    _, bundle = converted["planar"]
    texts = [
        e
        for e in resources(bundle, "imaging-qualitative-evaluation")
        if "text" in e["valueCodeableConcept"]
    ]
    assert texts
    assert all("coding" not in e["valueCodeableConcept"] for e in texts)


@pytest.mark.parametrize("placement", ["qualitative-root", "qualitative-inside"])
def test_qualitative_evaluations_container_children_map(converted: Any, placement: str) -> None:
    ds, bundle = converted[placement]
    container = [p for p, item in _items(ds).items() if _concept(item) == "C0034375"]
    assert len(container) == 1
    children = [
        p
        for p in _items(ds)
        if p.startswith(container[0] + ".") and p.count(".") == container[0].count(".") + 1
    ]
    mapped = [
        _observation_at(bundle, ds, p)
        for p in children
        if _concept(_items(ds)[p]) not in ("111001", "111003", "111002", "111000")
    ]
    assert mapped
    for evaluation in mapped:
        assert evaluation["meta"]["profile"] == [IG + "imaging-qualitative-evaluation"]
        assert codes(evaluation["category"][0]) == [
            ("http://terminology.hl7.org/CodeSystem/umls", "C0034375")
        ]


@pytest.mark.parametrize("placement", ["derived-root", "derived-inside"])
def test_derived_measurements_derive_from_groups(converted: Any, placement: str) -> None:
    _, bundle = converted[placement]
    derived = resources(bundle, "derived-imaging-measurement")
    assert len(derived) >= 2
    for measurement in derived:
        assert codes(measurement["category"][0]) == [(DCM, "126011")]
        groups = [by_ref(bundle, r) for r in measurement["derivedFrom"]]
        group_refs = [g for g in groups if g["resourceType"] == "Observation"]
        assert group_refs
        assert all(g["meta"]["profile"] == [IG + "imaging-measurement-group"] for g in group_refs)
    cited = max(derived, key=lambda m: len(m["derivedFrom"]))
    assert (
        len([r for r in cited["derivedFrom"] if by_ref(bundle, r)["resourceType"] == "Observation"])
        == 2
    )


def test_every_imaging_selection_profile_appears_with_its_fixed_code(converted: Any) -> None:
    _, bundle = converted["volumetric"]
    expected = {
        "image-region-3d": "111030",
        "referenced-segment": "121191",
        "referenced-segmentation-frame": "121214",
        "region-in-space": "130488",
        "volume-surface": "121231",
        "real-world-value-map": "126100",
        "illustration-of-roi": "121200",
        "visual-explanation": "130401",
        "source-image-for-segmentation": "121233",
        "source-sr-content-item": "111040",
    }
    for profile, code in expected.items():
        selections = resources(bundle, profile)
        assert selections, profile
        assert all(codes(s["code"]) == [(DCM, code)] for s in selections), profile
    segment = resources(bundle, "referenced-segment")[0]
    assert segment["instance"][0]["subset"] == ["1"]
    assert by_ref(bundle, segment["focus"][0])["meta"]["profile"] == [
        IG + "source-image-for-segmentation"
    ]
    region = resources(bundle, "image-region-3d")[0]
    assert region["frameOfReferenceUid"] and "instance" not in region
    rtstruct = resources(bundle, "region-in-space")[0]["instance"][0]
    assert rtstruct["sopClass"]["code"] == "1.2.840.10008.5.1.4.1.1.481.3" and rtstruct["subset"]


def test_image_region_2d_carries_graphic_and_image(converted: Any) -> None:
    _, bundle = converted["planar"]
    region = resources(bundle, "image-region-2d")[0]
    instance = region["instance"][0]
    assert instance["imageRegion2D"][0]["regionType"] == "polyline"
    assert len(instance["imageRegion2D"][0]["coordinate"]) >= 6
    assert instance["sopClass"] == {
        "system": "https://dicom.nema.org/medical/dicom/current/output/chtml/part04/sect_B.5",
        "code": "1.2.840.10008.5.1.4.1.1.2",
        "display": "CT Image Storage",
    }
    assert region["seriesUid"]  # from the evidence sequence


def test_observation_uid_gives_identifier_and_source_sr_content_item(converted: Any) -> None:
    ds, bundle = converted["planar"]
    group = resources(bundle, "imaging-measurement-group")[0]
    uid = one(group["identifier"])
    assert uid["type"]["coding"][0]["code"] == "observation-uid"
    source = one(
        [
            by_ref(bundle, r)
            for r in group["derivedFrom"]
            if by_ref(bundle, r)["meta"]["profile"] == [IG + "source-sr-content-item"]
        ]
    )
    assert source["instance"][0]["uid"] == str(ds.SOPInstanceUID)
    assert source["instance"][0]["subset"] == [uid["value"].removeprefix("urn:oid:")]


def test_missing_observation_uids_leave_ids_stable(converted: Any) -> None:
    _, bundle = converted["no-observation-uid"]
    assert all(
        "identifier" not in r for r in resources(bundle) if r["resourceType"] == "Observation"
    )
    assert not resources(bundle, "source-sr-content-item")
    again = convert_dataset(no_observation_uid_report())
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


@pytest.mark.parametrize(
    ("name", "status"),
    [("planar", "final"), ("preliminary", "preliminary"), ("partial", "preliminary")],
)
def test_status_from_preliminary_and_completion_flags(
    converted: Any, name: str, status: str
) -> None:
    _, bundle = converted[name]
    assert {r["status"] for r in resources(bundle) if r["resourceType"] == "Observation"} == {
        status
    }


def test_issued_honours_timezone_offset(converted: Any) -> None:
    ds, bundle = converted["planar"]
    group = resources(bundle, "imaging-measurement-group")[0]
    offset = str(ds.get("TimezoneOffsetFromUTC", ""))
    assert offset == "+0100"
    assert group["issued"].endswith("+01:00") and group["effectiveDateTime"] == group["issued"]


def test_participants_become_performer_and_participant_device(converted: Any) -> None:
    _, bundle = converted["participant"]
    participant = one(resources(bundle, "dicom-participant-device"))
    group = resources(bundle, "imaging-measurement-group")[0]
    assert group["device"] == {"reference": f"urn:uuid:{participant['id']}"}
    names = [p["name"][0]["family"] for p in group["contained"]]
    assert len(names) == len(set(names)) >= 1


def test_large_report_maps_fifty_groups() -> None:
    bundle = convert_dataset(large_report(50))
    assert len(resources(bundle, "imaging-measurement-group")) == 50


@pytest.mark.parametrize("kind", ["enhanced", "comprehensive", "comprehensive3d", "extensible"])
def test_every_tid1500_sop_class_is_accepted(kind: str) -> None:
    ds = as_sop_class(qualifier_report(), kind)
    bundle = convert_dataset(ds)
    assert resources(bundle, "imaging-measurement")


def test_entries_are_puts_to_deterministic_ids_with_resolving_references(converted: Any) -> None:
    for name, (_, bundle) in converted.items():
        assert bundle["type"] == "transaction"
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert entry["fullUrl"] == f"urn:uuid:{resource['id']}", name
            assert entry["request"] == {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
            assert resource["meta"]["profile"][0].startswith(IG), name
        for reference in _urn_references(bundle):
            by_ref(bundle, {"reference": reference})


def _urn_references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [
            v
            for k, v in node.items()
            if k == "reference" and isinstance(v, str) and v.startswith("urn:uuid:")
        ]
        for k, v in node.items():
            if k != "fullUrl":
                found += _urn_references(v)
        return found
    if isinstance(node, list):
        return [r for v in node for r in _urn_references(v)]
    return []


@pytest.mark.parametrize(
    ("universal_id", "kind", "configured", "expected"),
    [
        ("http://test-hospital.example/mrn", "URI", (), "http://test-hospital.example/mrn"),
        ("test-hospital.org", "URI", (), None),  # not an absolute URI: no FHIR system
        ("test-hospital.org", "URI", (("test-hospital.org", "urn:x:mrn"),), "urn:x:mrn"),
        ("1.2.3.4", "ISO", (), "urn:oid:1.2.3.4"),
        (
            "6E2B1A7C-0D0B-4F57-9B2E-1C0D2A6A9F10",
            "UUID",
            (),
            "urn:uuid:6e2b1a7c-0d0b-4f57-9b2e-1c0d2a6a9f10",
        ),
    ],
)
def test_patient_identifier_system_from_the_issuer(
    universal_id: str, kind: str, configured: tuple[tuple[str, str], ...], expected: str | None
) -> None:
    from sr2fhir.mapping.options import MappingOptions

    ds = copy.deepcopy(qualifier_report())
    ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID = universal_id
    ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityIDType = kind
    bundle = convert_dataset(ds, MappingOptions(issuer_systems=configured))
    identifier = resources(bundle, "imaging-measurement")[0]["subject"]["identifier"]
    assert identifier.get("system") == expected
    assert identifier["value"] == "PHI-PATIENT-4711"


def test_provenance_is_optional_and_targets_every_resource() -> None:
    from sr2fhir.mapping.options import MappingOptions

    ds = qualifier_report()
    assert all(r["resourceType"] != "Provenance" for r in resources(convert_dataset(ds)))
    bundle = convert_dataset(ds, MappingOptions(provenance=True))
    provenance = bundle["entry"][-1]["resource"]
    assert provenance["resourceType"] == "Provenance"
    others = {e["fullUrl"] for e in bundle["entry"][:-1]}
    assert {t["reference"] for t in provenance["target"]} == others
    what = provenance["entity"][0]["what"]["identifier"]
    assert what == {"system": "urn:dicom:uid", "value": f"urn:oid:{ds.SOPInstanceUID}"}
    assert provenance["recorded"] == resources(bundle, "imaging-measurement")[0]["issued"]
