"""`sr2fhir convert`: what it writes besides the Bundle (warnings, --report) and in R4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fhirclient.models.bundle as r4_bundle
import pytest

from sr2fhir.cli import main
from tests.support.sr.bad_inputs import ct_image_bytes
from tests.support.sr.reports import planar_report, units_report
from tests.support.sr.volumetric import volumetric_report


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A report with two unit warnings, one without warnings, and a CT image."""
    folder = tmp_path / "in"
    folder.mkdir()
    units_report().save_as(folder / "units.dcm", enforce_file_format=True)
    planar_report().save_as(folder / "planar.dcm", enforce_file_format=True)
    (folder / "ct.dcm").write_bytes(ct_image_bytes())
    return folder


def test_warnings_go_beside_the_bundle_and_a_stale_file_goes(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    units, planar = units_report().SOPInstanceUID, planar_report().SOPInstanceUID
    out.mkdir()
    (out / f"{planar}.warnings.json").write_text("{}")  # from an earlier run
    assert main(["convert", str(folder), "--out", str(out)]) == 1  # the CT is rejected
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{planar}.json", f"{units}.json", f"{units}.warnings.json"]
    )
    document = json.loads((out / f"{units}.warnings.json").read_text())
    assert document["sop_instance_uid"] == units
    assert [(w["code"], w["item_path"]) for w in document["warnings"]] == [
        ("unit-corrected", "1.6.1.7"),
        ("invalid-ucum-unit", "1.6.1.8"),
    ]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[2].startswith("converted 2, rejected 1 of 3 file(s) in ")
    assert (
        f"{folder}/units.dcm: converted with 2 warning(s), first: unit-corrected at item 1.6.1.7:"
        in err[1]
    )


def test_report_has_one_json_line_per_input_file(folder: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    assert (
        main(["convert", str(folder), "--out", str(tmp_path / "o"), "--report", str(report)]) == 1
    )
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    by_file = {Path(line["file"]).name: line for line in lines}
    assert sorted(by_file) == ["ct.dcm", "planar.dcm", "units.dcm"]
    assert by_file["ct.dcm"] == {
        "file": str(folder / "ct.dcm"),
        "sop_instance_uid": None,
        "result": "rejected",
        "reason": "not an SR: SOP Class is CT Image Storage (1.2.840.10008.5.1.4.1.1.2)",
        "warnings": [],
    }
    assert (
        by_file["planar.dcm"]["result"] == "converted" and by_file["planar.dcm"]["warnings"] == []
    )
    assert [w["code"] for w in by_file["units.dcm"]["warnings"]] == [
        "unit-corrected",
        "invalid-ucum-unit",
    ]
    assert by_file["units.dcm"]["sop_instance_uid"] == units_report().SOPInstanceUID


def test_report_works_for_one_file_on_stdout_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "units.dcm"
    units_report().save_as(path, enforce_file_format=True)
    report = tmp_path / "r.jsonl"
    assert main(["convert", str(path), "--report", str(report)]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "transaction"
    (line,) = report.read_text().splitlines()
    assert len(json.loads(line)["warnings"]) == 2


def _r4_checked(bundle: dict[str, Any]) -> dict[str, Any]:
    r4_bundle.Bundle(bundle, strict=True)  # fhirclient's strict R4 (4.0.1) models
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert "ImagingSelection" not in types and "Observation" in types
    return bundle


def test_fhir_version_r4_flag_writes_r4_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "volumetric.dcm"
    volumetric_report().save_as(path, enforce_file_format=True)
    assert main(["convert", str(path), "--fhir-version", "R4"]) == 0
    _r4_checked(json.loads(capsys.readouterr().out))
    assert main(["convert", str(path)]) == 0  # R5 by default
    assert '"ImagingSelection"' in capsys.readouterr().out


def test_fhir_version_of_the_configuration_is_honoured_and_the_flag_wins(
    folder: Path, tmp_path: Path
) -> None:
    config = tmp_path / "sr2fhir.yaml"
    config.write_text("fhir:\n  version: R4\n")
    out = tmp_path / "out"
    main(["convert", str(folder), "--out", str(out), "--config", str(config)])
    planar = out / f"{planar_report().SOPInstanceUID}.json"
    _r4_checked(json.loads(planar.read_text()))
    main(
        ["convert", str(folder), "--out", str(out), "--config", str(config), "--fhir-version", "R5"]
    )
    assert '"ImagingSelection"' in planar.read_text()


def test_validate_cannot_check_r4_output(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["convert", str(folder), "--out", str(tmp_path / "o"), "--fhir-version", "R4"]
    assert main([*argv, "--validate"]) == 2
    assert "cannot check --fhir-version R4 output" in capsys.readouterr().err
