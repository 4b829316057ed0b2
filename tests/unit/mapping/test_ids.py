"""Resource ids are UUIDv5 of their key: the same ids as every earlier release."""

from __future__ import annotations

import uuid

import pytest

from sr2fhir.mapping.ids import SR2FHIR_NAMESPACE, resource_id


@pytest.mark.parametrize(
    "parts",
    [
        ("1.2.826.0.1.3680043.8.498.1", "Observation", "1.4.1"),
        ("device", "Müller Medizintechnik", "Ω-Scan"),
        ("",),
    ],
)
def test_resource_id_is_uuid5_of_the_joined_key(parts: tuple[str, ...]) -> None:
    assert resource_id(*parts) == str(uuid.uuid5(SR2FHIR_NAMESPACE, "|".join(parts)))


def test_namespace_is_fixed() -> None:
    assert str(SR2FHIR_NAMESPACE) == str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:sr2fhir"))
