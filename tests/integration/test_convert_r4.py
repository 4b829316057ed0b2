"""`sr2fhir convert --fhir-version R4` output, checked by HAPI FHIR R4's own validator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from sr2fhir.cli import main
from tests.integration.fhir_peer import fhir_base_r4
from tests.support.sr.reports import units_report
from tests.support.sr.volumetric import scoord3d_report, volumetric_report

pytestmark = pytest.mark.integration

# The R4 Bundle carries R5's Observation.bodyStructure as the standard cross-version extension
# (sr2fhir/mapping/r4.py); HAPI's R4 validator does not know version 5.0 extensions.
KNOWN = re.compile(r"extension-Observation\.bodyStructure' is not valid \(invalid Version '5\.0'\)")


@pytest.mark.parametrize("build", [volumetric_report, units_report, scoord3d_report])
def test_r4_output_of_convert_has_no_error_for_hapi_r4(build: object, tmp_path: Path) -> None:
    base = fhir_base_r4()
    path = tmp_path / "report.dcm"
    build().save_as(path, enforce_file_format=True)  # type: ignore[operator]
    out = tmp_path / "out"
    assert main(["convert", str(path), "--out", str(out), "--fhir-version", "R4"]) == 0
    (written,) = [p for p in out.glob("*.json") if not p.name.endswith(".warnings.json")]
    bundle = json.loads(written.read_text())
    answer = requests.post(
        f"{base}/Bundle/$validate",
        json=bundle,
        headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text[:300]
    errors = [
        issue.get("diagnostics", "")
        for issue in answer.json()["issue"]
        if issue["severity"] in ("error", "fatal")
    ]
    assert [e for e in errors if not KNOWN.search(e)] == []
