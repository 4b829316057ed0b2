"""A NUM's Measurement Units -> Quantity.unit / system / code, one rule for every unit.

Quantity.unit is the UCUM code's display as a clinician reads it ("millimeter", "square
millimeter", "Hounsfield unit": ucum.ucum_display), never the DICOM Code Meaning, which
PS3.16 itself writes inconsistently ("mm" beside "square millimeter"). A UCUM code that is not
valid UCUM keeps its Code Meaning as text only: no system/code a validator or an EHR would take
for a UCUM unit. Units of another coding scheme keep their Code Meaning and scheme.
"""

from __future__ import annotations

import re

from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.coding import UCUM, system_for
from sr2fhir.mapping.ucum import UcumError, is_valid_ucum, ucum_display
from sr2fhir.mapping.warnings import MappingWarning, WarningCode

# dcmjs wrote a length in cm as "[arb'U]{cm}" (an arbitrary unit annotated "cm"): a unit it
# did not know became an annotation of [arb'U]. When the annotation is itself a UCUM unit,
# that unit is what was measured in.
_ARBITRARY_ANNOTATED = re.compile(r"^\[arb'U\]\{([^{}]+)\}$")


def quantity_unit(unit: Code, path: str) -> tuple[dict[str, str], MappingWarning | None]:
    """The Quantity's unit, system and code (in FHIR order), and a warning when the unit
    was corrected or is not valid UCUM."""
    if unit.designator != "UCUM":
        fields = {"unit": unit.meaning} if unit.meaning else {}
        return {**fields, "system": system_for(unit.designator), "code": unit.value}, None
    meant = _meant_unit(unit.value)
    if meant is not None:
        warning = MappingWarning(
            WarningCode.UNIT_CORRECTED,
            path,
            f"unit {unit.value!r} read as {meant!r}: an arbitrary unit annotated with a UCUM "
            "unit is how some producers (dcmjs) write a unit they have no code for",
        )
        return _ucum(meant), warning
    try:
        fields = _ucum(unit.value)
    except UcumError as exc:
        text = unit.meaning or unit.value
        warning = MappingWarning(
            WarningCode.INVALID_UCUM_UNIT,
            path,
            f"unit {unit.value[:64]!r} is not valid UCUM ({exc}): kept as text, without a code",
        )
        return {"unit": text}, warning
    return fields, None


def _ucum(code: str) -> dict[str, str]:
    display = ucum_display(code)
    fields = {"unit": display} if display else {}
    return {**fields, "system": UCUM, "code": code}


def _meant_unit(code: str) -> str | None:
    match = _ARBITRARY_ANNOTATED.match(code)
    if match is None or not is_valid_ucum(match.group(1)):
        return None
    return match.group(1)
