"""UCUM: which codes are valid, how they read, and agreement with the HL7 validator's UCUM."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom.sr.codedict import codes

from sr2fhir.mapping.ucum import UcumError, is_valid_ucum, ucum_display
from tests.support.paths import REPO

VALIDATOR_LIB = REPO / "tools" / "validator" / "lib"
R5_CORE = Path.home() / ".fhir" / "packages" / "hl7.fhir.r5.core#5.0.0" / "package"


@pytest.mark.parametrize(
    ("code", "display"),
    [
        ("mm", "millimeter"),
        ("mm2", "square millimeter"),
        ("mm3", "cubic millimeter"),
        ("[hnsf'U]", "Hounsfield unit"),
        ("mL/s", "milliliter per second"),
        ("cm/s", "centimeter per second"),
        ("ml/min/g", "milliliter per minute per gram"),
        ("s/mm2", "second per square millimeter"),
        ("%", "percent"),
        ("{ratio}", "ratio"),
        ("{counts}/s", "counts per second"),
        ("1", ""),
        ("10*23/ml", "10^23 per milliliter"),
        ("/min", "per minute"),
        ("m-1", "per meter"),
        ("deg", "degree"),
        ("Cel", "degree Celsius"),
        ("mm[Hg]", "millimeter of mercury column"),
        ("kPa", "kilopascal"),
        ("MBq", "megabecquerel"),
        ("Bq/ml", "becquerel per milliliter"),
        ("mmol/kg{WetWeight}", "millimole per kilogram (WetWeight)"),
        ("g/(8.h){shift}", "gram per (8 hour) (shift)"),
        ("[arb'U]{cm}", "arbitrary unit (cm)"),
    ],
)
def test_a_ucum_code_reads_as_its_ucum_names(code: str, display: str) -> None:
    assert ucum_display(code) == display


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("HU", "'HU' at position 1 is not a UCUM unit"),
        ("ml/[100]g/min", "'[100]g' at position 4 is not a UCUM unit"),
        ("k[arb'U]", '"[arb\'U]" takes no prefix (it is not a metric unit)'),
        ("m0", "an exponent of 0 is not a unit"),
        ("0", "a factor is a positive integer"),
        ("mm2 ", "a UCUM code is printable ASCII without spaces"),
        ("[arb'U]{cm US Region}", "a UCUM code is printable ASCII without spaces"),
        ("\u00b5m", "a UCUM code is printable ASCII without spaces"),
        ("", "a UCUM code is printable ASCII without spaces"),
        ("(m", "missing ')' at position 3"),
        ("m)", "unexpected ')' at position 2"),
        ("m//s", "a unit is missing at position 3"),
        ("{a}{b}", "unexpected '{' at position 4"),
        ("m{a", "unbalanced '{' at position 2"),
        ("[in_i", "unbalanced '[' at position 1"),
    ],
)
def test_an_invalid_code_is_refused_with_its_reason(code: str, reason: str) -> None:
    with pytest.raises(UcumError) as raised:
        ucum_display(code)
    assert str(raised.value) == reason
    assert not is_valid_ucum(code)


def test_the_ig_examples_name_their_units_as_we_do(ig_dir: Path) -> None:
    units = {}
    for path in (ig_dir / "resources").glob("Observation-*.json"):
        quantity = json.loads(path.read_text()).get("valueQuantity")
        if quantity:
            units[quantity["code"]] = quantity["unit"]
    assert len(units) >= 3
    assert {code: ucum_display(code) for code in units} == units


def _pydicom_ucum_codes() -> set[str]:
    return {code.value for code in codes.UCUM.concepts.values()}


def _hl7_common_ucum_codes() -> set[str]:
    path = R5_CORE / "ValueSet-ucum-common.json"
    if not path.exists():
        return set()
    value_set = json.loads(path.read_text())
    return {c["code"] for c in value_set["compose"]["include"][0]["concept"]}


# Where this module is stricter than the HL7 validator's UCUM library (org.fhir:ucum): UCUM's
# grammar derives neither two annotations in a row, nor "//", nor a zero factor or exponent,
# and UCUM codes are ASCII 33-126 (no spaces, also in annotations).
STRICTER = {"0", "m0", "{a}{b}", "m//s", "[arb'U]{cm US Region}"}
BOTH_REFUSE = {"HU", "ml/[100]g/min", "k[arb'U]", "mm2 "}


@pytest.mark.skipif(shutil.which("java") is None, reason="no java to run the HL7 UCUM library")
def test_every_code_we_accept_the_hl7_validators_ucum_library_accepts(tmp_path: Path) -> None:
    jars = sorted(VALIDATOR_LIB.glob("ucum-*.jar"))
    if not jars:
        pytest.skip("tools/validator/setup.sh has not been run (no org.fhir:ucum jar)")
    classpath = [
        jars[-1],
        *VALIDATOR_LIB.glob("xpp3-*.jar"),
        *VALIDATOR_LIB.glob("commons-lang3-*.jar"),
    ]
    oracle = tmp_path / "UcumOracle.java"
    oracle.write_text(ORACLE)
    candidates = sorted(_pydicom_ucum_codes() | _hl7_common_ucum_codes() | STRICTER | BOTH_REFUSE)
    result = subprocess.run(
        ["java", "-cp", ":".join(map(str, classpath)), str(oracle)],
        input="\n".join(candidates) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    theirs = dict(
        zip(candidates, (line == "ok" for line in result.stdout.splitlines()), strict=True)
    )
    ours = {code: is_valid_ucum(code) for code in candidates}
    assert {code for code in candidates if ours[code] and not theirs[code]} == set()
    assert {code for code in candidates if theirs[code] and not ours[code]} == STRICTER
    assert sum(ours.values()) > 90  # pydicom's UCUM codes, and HL7's ~800 common ones in CI


ORACLE = """
import java.io.*;
import org.fhir.ucum.UcumEssenceService;
public class UcumOracle {
    public static void main(String[] args) throws Exception {
        UcumEssenceService ucum = new UcumEssenceService(
            UcumEssenceService.class.getResourceAsStream("/ucum-essence.xml"));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String problem;
            try { problem = ucum.validate(line); } catch (Exception e) { problem = "error"; }
            System.out.println(problem == null ? "ok" : "bad");
        }
    }
}
"""
