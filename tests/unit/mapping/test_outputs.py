"""Every fixture's Bundle: golden bytes, determinism, and R5 structure (fhir.resources)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources import get_fhir_model_class

from sr2fhir.mapping import bundle_to_json, convert_dataset
from tests.support.golden import assert_matches_golden
from tests.support.sr.catalogue import ALL_GOOD


@pytest.fixture(scope="module", params=sorted(ALL_GOOD))
def case(request: pytest.FixtureRequest) -> tuple[str, bytes]:
    name: str = request.param
    return name, bundle_to_json(convert_dataset(ALL_GOOD[name]()), indent=2)


def test_bundle_matches_golden(case: tuple[str, bytes]) -> None:
    name, data = case
    assert_matches_golden(name, data)


def test_conversion_is_deterministic(case: tuple[str, bytes]) -> None:
    name, data = case
    assert bundle_to_json(convert_dataset(ALL_GOOD[name]()), indent=2) == data


def test_every_resource_validates_as_fhir_r5(case: tuple[str, bytes]) -> None:
    import json

    _, data = case
    bundle: dict[str, Any] = json.loads(data)
    for entry in bundle["entry"]:
        resource = copy.deepcopy(entry["resource"])
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)  # raises on unknown elements, types, cardinality
    get_fhir_model_class("Bundle").model_validate(bundle)


def test_compact_serialisation_is_plain_utf8_json(case: tuple[str, bytes]) -> None:
    import json

    name, _ = case
    bundle = convert_dataset(ALL_GOOD[name]())
    bundle["entry"][0]["resource"]["note"] = [{"text": "Zoë Müller, 5 µm"}]
    compact = bundle_to_json(bundle)
    plain = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert compact == plain.encode()
    assert "Zoë Müller, 5 µm".encode() in compact
