"""Reference resolution: literal when found once, else logical, failed or held; only what
was found is cached, with a TTL."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sr2fhir.config import UnresolvedReference
from sr2fhir.delivery.fhir.resolve import ReferenceResolver
from sr2fhir.errors import PermanentDeliveryError, ReferencesPendingError
from sr2fhir.mapping import convert_dataset
from tests.support.sr.reports import planar_report


class FakeServer:
    """Stands in for FhirHttp.search only (a unit test of the resolver's logic)."""

    def __init__(self, found: dict[str, list[str]]) -> None:
        self.found = found
        self.calls: list[tuple[str, dict[str, str]]] = []

    def search(self, resource_type: str, params: dict[str, str]) -> dict[str, Any]:
        self.calls.append((resource_type, params))
        ids = self.found.get(resource_type, [])
        entries = [{"resource": {"resourceType": resource_type, "id": i}} for i in ids]
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def _resolver(server: FakeServer, **kwargs: Any) -> ReferenceResolver:
    now = [0.0]
    resolver = ReferenceResolver(http=server, clock=lambda: now[0], **kwargs)  # type: ignore[arg-type]
    resolver.now = now  # type: ignore[attr-defined]
    return resolver


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return convert_dataset(planar_report())


def _subjects(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"]["subject"] for e in bundle["entry"] if "subject" in e["resource"]]


def test_found_references_become_literal_and_keep_the_identifier(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    server = FakeServer({"Patient": ["p1"], "ServiceRequest": ["sr1"], "ImagingStudy": ["is1"]})
    _resolver(server).resolve_bundle(b)
    for subject in _subjects(b):
        assert subject["reference"] == "Patient/p1"
        assert subject["identifier"]["value"] == "PHI-PATIENT-4711"
    group = next(
        e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"
    )
    assert group["partOf"][0]["reference"] == "ImagingStudy/is1"
    assert group["basedOn"][0]["reference"] == "ServiceRequest/sr1"
    assert sorted(c[0] for c in server.calls) == ["ImagingStudy", "Patient", "ServiceRequest"]
    patient_search = next(p for t, p in server.calls if t == "Patient")
    assert patient_search["identifier"] == "http://test-hospital.example/mrn|PHI-PATIENT-4711"


def test_not_found_keeps_logical_references(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _resolver(FakeServer({})).resolve_bundle(b)
    assert all("reference" not in s for s in _subjects(b))


def test_fail_mode_rejects_an_unknown_patient(bundle: dict[str, Any]) -> None:
    with pytest.raises(PermanentDeliveryError, match="patient not found"):
        _resolver(FakeServer({}), unresolved="fail").resolve_bundle(copy.deepcopy(bundle))


def test_ambiguous_matches_stay_logical(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    _resolver(FakeServer({"Patient": ["a", "b"]})).resolve_bundle(b)
    assert all("reference" not in s for s in _subjects(b))


def test_found_resources_are_cached_until_the_ttl_expires(bundle: dict[str, Any]) -> None:
    server = FakeServer({"Patient": ["p1"], "ServiceRequest": ["sr1"], "ImagingStudy": ["is1"]})
    resolver = _resolver(server, ttl=60.0)
    for _ in range(5):
        resolver.resolve_bundle(copy.deepcopy(bundle))
    assert resolver.searches == 3  # one per resource type, for five SRs
    resolver.now[0] = 61.0  # type: ignore[attr-defined]
    resolver.resolve_bundle(copy.deepcopy(bundle))
    assert resolver.searches == 6


def test_a_resource_not_found_is_searched_again_and_seen_once_created(
    bundle: dict[str, Any],
) -> None:
    server = FakeServer({})
    resolver = _resolver(server, ttl=300.0)
    resolver.resolve_bundle(copy.deepcopy(bundle))
    server.found["Patient"] = ["p1"]  # registered in the EHR a moment later
    b = copy.deepcopy(bundle)
    resolver.resolve_bundle(b)
    assert {s.get("reference") for s in _subjects(b)} == {"Patient/p1"}
    assert resolver.searches == 6  # nothing "not found" was remembered


def test_ttl_zero_caches_nothing(bundle: dict[str, Any]) -> None:
    server = FakeServer({"Patient": ["p1"], "ServiceRequest": ["sr1"], "ImagingStudy": ["is1"]})
    resolver = _resolver(server, ttl=0.0)
    for _ in range(2):
        resolver.resolve_bundle(copy.deepcopy(bundle))
    assert resolver.searches == 6


def test_hold_mode_names_what_is_missing_and_keeps_what_was_found(
    bundle: dict[str, Any],
) -> None:
    b = copy.deepcopy(bundle)
    resolver = _resolver(FakeServer({"ServiceRequest": ["sr1"]}), unresolved="hold")
    with pytest.raises(ReferencesPendingError, match="waiting for Patient, ImagingStudy") as got:
        resolver.resolve_bundle(b)
    assert got.value.missing == ("Patient", "ImagingStudy")
    assert "PHI-PATIENT-4711" not in str(got.value)


def test_an_override_decides_for_one_delivery(bundle: dict[str, Any]) -> None:
    resolver = _resolver(FakeServer({}), unresolved="hold")
    b = copy.deepcopy(bundle)
    resolver.resolve_bundle(b, UnresolvedReference.LOGICAL)  # released, or the hold ran out
    assert all("reference" not in s for s in _subjects(b))
    with pytest.raises(PermanentDeliveryError, match="patient not found"):
        resolver.resolve_bundle(copy.deepcopy(bundle), UnresolvedReference.FAIL)
