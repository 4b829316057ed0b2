"""Quantity.unit / system / code: one rule for every NUM (sr2fhir/mapping/units.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.convert import map_report
from sr2fhir.mapping.units import quantity_unit
from sr2fhir.mapping.warnings import WarningCode
from tests.support.sr.reports import units_report
from tests.unit.mapping.bundle_view import resources

UCUM = "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def quantities() -> tuple[dict[str, dict[str, Any]], Any]:
    result = map_report(units_report())
    by_code = {
        r["code"]["coding"][0]["code"]: r["valueQuantity"]
        for r in resources(result.bundle, "imaging-measurement")
    }
    return by_code, result.warnings


def test_every_unit_reads_as_its_ucum_display_not_the_code_meaning(quantities: Any) -> None:
    by_code, _ = quantities
    assert by_code["42798000"] == {
        "value": 310.2,
        "unit": "square millimeter",  # its Code Meaning says "mm2"
        "system": UCUM,
        "code": "mm2",
    }
    assert by_code["252064005"]["unit"] == "centimeter per second"  # "centimeter/second"


def test_dcmjs_arbitrary_unit_annotated_cm_is_read_as_cm_with_a_warning(quantities: Any) -> None:
    by_code, warnings = quantities
    assert by_code["410668003"] == {
        "value": 10.04,
        "unit": "centimeter",
        "system": UCUM,
        "code": "cm",
    }
    corrected = [w for w in warnings if w.code is WarningCode.UNIT_CORRECTED]
    assert [w.item_path for w in corrected] == ["1.6.1.7"]
    assert corrected[0].message.startswith("unit \"[arb'U]{cm}\" read as 'cm'")


def test_a_unit_that_is_not_ucum_keeps_its_meaning_as_text_only(quantities: Any) -> None:
    by_code, warnings = quantities
    assert by_code["112031"] == {"value": 42, "unit": "HU"}
    invalid = [w for w in warnings if w.code is WarningCode.INVALID_UCUM_UNIT]
    assert [w.item_path for w in invalid] == ["1.6.1.8"]
    assert invalid[0].message == (
        "unit 'HU' is not valid UCUM ('HU' at position 1 is not a UCUM unit): kept as text, "
        "without a code"
    )


def test_the_unity_has_a_code_and_no_unit_text(quantities: Any) -> None:
    by_code, _ = quantities
    assert by_code["122218"] == {"value": 0.35, "system": UCUM, "code": "1"}


def test_the_report_lists_exactly_its_two_unit_warnings(quantities: Any) -> None:
    _, warnings = quantities
    assert [w.code for w in warnings] == [WarningCode.UNIT_CORRECTED, WarningCode.INVALID_UCUM_UNIT]


@pytest.mark.parametrize(
    ("unit", "fields", "warning"),
    [
        (Code("mm", "UCUM", "mm"), {"unit": "millimeter", "system": UCUM, "code": "mm"}, None),
        (
            Code("[arb'U]{HU}", "UCUM", "arbitrary HU"),  # "HU" is no UCUM unit: kept as sent
            {"unit": "arbitrary unit (HU)", "system": UCUM, "code": "[arb'U]{HU}"},
            None,
        ),
        (
            Code("[arb'U]{mm2}", "UCUM", "arbitrary mm2"),
            {"unit": "square millimeter", "system": UCUM, "code": "mm2"},
            WarningCode.UNIT_CORRECTED,
        ),
        (
            Code("ST", "99XYZ", "Slice thickness units"),  # not UCUM: its own scheme
            {
                "unit": "Slice thickness units",
                "system": "urn:sr2fhir:dicom-csd:99XYZ",
                "code": "ST",
            },
            None,
        ),
        (
            Code("cm US Region", "UCUM", ""),  # no meaning: the code as text
            {"unit": "cm US Region"},
            WarningCode.INVALID_UCUM_UNIT,
        ),
    ],
)
def test_the_rule_for_each_kind_of_unit(
    unit: Code, fields: dict[str, str], warning: WarningCode | None
) -> None:
    got, found = quantity_unit(unit, "1.2.3")
    assert got == fields
    assert (found.code if found else None) is warning
