"""delivery.validate: a Bundle that is not conformant fails its job before it reaches the EHR."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr2fhir import validation
from sr2fhir.errors import ConfigError, MappingError
from sr2fhir.mapping import MappingOptions
from sr2fhir.report_facts import MappedReport
from sr2fhir.validation import StructuralValidator, validating_converter
from sr2fhir.worker import make_converter
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import planar_report


def test_a_conformant_bundle_passes_unchanged() -> None:
    convert = make_converter(MappingOptions())
    data = to_bytes(planar_report())
    assert validating_converter(convert, StructuralValidator())(data) == convert(data)


def test_a_broken_bundle_is_a_mapping_error_naming_the_check() -> None:
    convert = make_converter(MappingOptions())

    def broken(data: bytes) -> MappedReport:
        mapped = convert(data)
        mapped.bundle["entry"][0]["resource"]["status"] = 42
        return mapped

    checked = validating_converter(broken, StructuralValidator())
    with pytest.raises(
        MappingError, match=r"not conformant \(1 error\(s\), an in-process structural"
    ):
        checked(to_bytes(planar_report()))


@pytest.mark.parametrize("checkout", [True, False])
def test_the_validator_is_found_in_a_checkout_and_from_a_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: bool
) -> None:
    """An installed wheel has no tools/validator beside it: the structural check then, and
    a message that does not send the user to a script they do not have."""
    root = tmp_path / "site"
    if checkout:
        (root / "tools" / "validator").mkdir(parents=True)
        (root / "tools" / "validator" / "setup.sh").write_text("")
    monkeypatch.setattr(validation, "_CHECKOUT", root)
    monkeypatch.delenv(validation.VALIDATOR_DIR_ENV, raising=False)
    assert validation.validator_dir() is None  # no validate.py in either
    assert isinstance(validation.find_validator(), StructuralValidator)

    def missing() -> None:
        raise ConfigError("fhir.resources is not installed")

    monkeypatch.setattr(validation, "StructuralValidator", missing)
    with pytest.raises(ConfigError, match=r"^no validator available: pip install") as caught:
        validation.find_validator()
    message = str(caught.value)
    assert ("run tools/validator/setup.sh" in message) is checkout
    assert (f"set {validation.VALIDATOR_DIR_ENV}" in message) is not checkout
