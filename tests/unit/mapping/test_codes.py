"""The mapping's vocabulary: named codes, code identity, legacy SNOMED RT normalisation."""

from __future__ import annotations

import pytest
from pydicom.sr.codedict import codes as pydicom_codes

from sr2fhir.mapping import codes
from sr2fhir.mapping.codes import Code, normalise, srt_to_sct

NAMED = {name: value for name, value in vars(codes).items() if isinstance(value, Code)}
# pydicom's dictionary names these differently (SNOMED CT's fully specified name) or lacks them.
MEANING_ELSEWHERE = {"FINDING_CATEGORY", "QUALITATIVE_EVALUATIONS", "ACTIVITY_SESSION"}


def _ps3_16(designator: str) -> dict[str, str]:
    """Code value -> meaning, from pydicom's PS3.16 code dictionary."""
    return {
        code.value: code.meaning for code in getattr(pydicom_codes, designator).concepts.values()
    }


@pytest.mark.parametrize("name", sorted(set(NAMED) - MEANING_ELSEWHERE))
def test_every_named_code_is_the_ps3_16_code_of_its_meaning(name: str) -> None:
    code = NAMED[name]
    assert _ps3_16(code.designator)[code.value].casefold() == code.meaning.casefold()


def test_codes_are_the_same_concept_whatever_their_meaning_or_version() -> None:
    shown = Code("111030", "DCM", "Image region", "01")
    assert shown == codes.IMAGE_REGION
    assert shown in {codes.IMAGE_REGION}
    assert Code("111030", "SCT", "Image Region") != codes.IMAGE_REGION
    assert codes.IMAGE_REGION != ("DCM", "111030")


def test_legacy_snomed_rt_is_read_as_snomed_ct() -> None:
    """Fails if pydicom moves or reshapes its private SRT -> SCT table (srt_to_sct)."""
    assert srt_to_sct()["T-28000"] == "39607008"
    lung = normalise("T-28000", "SRT", "Lung", "x", False)
    assert (lung.value, lung.designator, lung.meaning, lung.version) == (
        "39607008",
        "SCT",
        "Lung",
        None,
    )
    assert normalise("T-NOT-A-CODE", "SRT", "?", None, False).designator == "SRT"
