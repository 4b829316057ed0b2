"""delivery.validate: a Bundle that is not conformant fails its job before it reaches the EHR."""

from __future__ import annotations

from typing import Any

import pytest

import tests.srfactory as factory
from sr2fhir.errors import MappingError
from sr2fhir.mapping import MappingOptions
from sr2fhir.validation import StructuralValidator, validating_converter
from sr2fhir.worker import make_converter


def test_a_conformant_bundle_passes_unchanged() -> None:
    convert = make_converter(MappingOptions())
    data = factory.to_bytes(factory.planar_report())
    assert validating_converter(convert, StructuralValidator())(data) == convert(data)


def test_a_broken_bundle_is_a_mapping_error_naming_the_check() -> None:
    convert = make_converter(MappingOptions())

    def broken(data: bytes) -> dict[str, Any]:
        bundle = convert(data)
        bundle["entry"][0]["resource"]["status"] = 42
        return bundle

    checked = validating_converter(broken, StructuralValidator())
    with pytest.raises(
        MappingError, match=r"not conformant \(1 error\(s\), an in-process structural"
    ):
        checked(factory.to_bytes(factory.planar_report()))
