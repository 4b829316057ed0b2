"""`sr2fhir convert`: the command-line contract (exit codes, one line per rejection, output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.mapping import MappingResult, map_report
from tests.support.sr.bad_inputs import (
    basic_text_sr_bytes,
    ct_image_bytes,
    empty_bytes,
    malformed_tree_bytes,
    non_tid1500_sr_bytes,
    not_dicom_bytes,
    truncated_sr_bytes,
)
from tests.support.sr.reports import planar_report, qualifier_report

BAD_INPUTS = {
    "not-dicom.txt": (not_dicom_bytes, "not a DICOM file"),
    "empty.dcm": (empty_bytes, "not a DICOM file: empty"),
    "truncated.dcm": (truncated_sr_bytes, "truncated"),
    "ct.dcm": (ct_image_bytes, "not an SR: SOP Class is CT Image Storage"),
    "other-sr.dcm": (
        non_tid1500_sr_bytes,
        "not a TID 1500 Measurement Report: no template id TID 1500, document title "
        '(1111, TEST, "Diagnosis") not in CID 7021, and no Imaging Measurements',
    ),
    "basic-text.dcm": (
        basic_text_sr_bytes,
        "not a TID 1500 Measurement Report: no template id TID 1500, document title "
        '(IHE.01, 99_OFFIS_DCMTK, "Document Title") not in CID 7021',
    ),
    "malformed.dcm": (malformed_tree_bytes, "at item 1."),
}


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    for name, (build, _) in BAD_INPUTS.items():
        (folder / name).write_bytes(build())
    planar_report().save_as(folder / "nested" / "planar.dcm", enforce_file_format=True)
    qualifier_report().save_as(folder / "qualifier.dcm", enforce_file_format=True)
    return folder


def test_folder_converts_good_files_and_rejects_each_bad_one_on_one_line(
    mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status = main(["convert", str(mixed_folder), "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 1
    *lines, summary = captured.err.strip().splitlines()
    assert len(lines) == len(BAD_INPUTS), captured.err
    assert summary.startswith(f"converted 2, rejected {len(BAD_INPUTS)} of ")
    for name, (_, reason) in BAD_INPUTS.items():
        line = one_line_for(lines, name)
        assert reason in line, line
    assert "Traceback" not in captured.err
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(
        [
            f"{planar_report().SOPInstanceUID}.json",
            f"{qualifier_report().SOPInstanceUID}.json",
        ]
    )
    bundle = json.loads((out / written[0]).read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"


def one_line_for(lines: list[str], name: str) -> str:
    found = [line for line in lines if f"/{name}:" in line]
    assert len(found) == 1, (name, lines)
    return found[0]


def test_single_file_prints_the_bundle_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "planar.dcm"
    planar_report().save_as(path, enforce_file_format=True)
    assert main(["convert", str(path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["type"] == "transaction"
    assert captured.err == ""


def test_rejected_single_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ct.dcm"
    path.write_bytes(ct_image_bytes())
    assert main(["convert", str(path)]) == 1
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv",
    [["convert"], ["convert", "/no/such/path"], ["convert", "--bogus", "x"], ["frobnicate"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_folder_without_out_is_a_usage_error(mixed_folder: Path) -> None:
    assert main(["convert", str(mixed_folder)]) == 2


def test_no_phi_in_rejection_messages(
    mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["convert", str(mixed_folder), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "DOE" not in err and "PHI-PATIENT-4711" not in err


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "sr2fhir", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("sr2fhir ")


def test_validate_reports_conformance_with_the_structural_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SR2FHIR_VALIDATOR_DIR", str(tmp_path / "no-hl7-validator"))
    path = tmp_path / "planar.dcm"
    planar_report().save_as(path, enforce_file_format=True)
    assert main(["convert", str(path), "--out", str(tmp_path / "out"), "--validate"]) == 0
    err = capsys.readouterr().err
    assert "structural R5 check" in err and "1 conformant, 0 not" in err


def test_validate_fails_on_a_non_conformant_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sr2fhir.commands.convert as command

    def broken(ds: object, options: object) -> MappingResult:
        result = map_report(ds, options)  # type: ignore[arg-type]
        result.bundle["entry"][0]["resource"]["status"] = ["not", "a", "code"]
        return result

    monkeypatch.setenv("SR2FHIR_VALIDATOR_DIR", str(tmp_path / "no-hl7-validator"))
    monkeypatch.setattr(command, "map_report", broken)
    path = tmp_path / "planar.dcm"
    planar_report().save_as(path, enforce_file_format=True)
    assert main(["convert", str(path), "--out", str(tmp_path / "out"), "--validate"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: not conformant: " in err and "0 conformant, 1 not" in err


def test_push_without_a_fhir_server_is_a_usage_error(
    mixed_folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SR2FHIR_FHIR_BASE_URL", raising=False)
    assert main(["convert", str(mixed_folder), "--push"]) == 2
    assert "--push needs fhir.base_url" in capsys.readouterr().err


def test_a_file_pydicom_reads_with_invalid_values_converts_without_pydicom_warnings(
    tmp_path: Path,
) -> None:
    """The command sets pydicom's reading to lenient and quiet itself (importing sr2fhir does
    not): a Big Endian file (read by pydicom) with an over-long UID maps, and stderr is empty."""
    import subprocess
    import sys

    from pydicom.config import disable_value_validation
    from pydicom.filewriter import dcmwrite
    from pydicom.uid import ExplicitVRBigEndian

    ds = planar_report()
    with disable_value_validation():
        ds.StudyInstanceUID = "1.2." + "3" * 66
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    path = tmp_path / "big-endian.dcm"
    dcmwrite(path, ds, enforce_file_format=True)  # converts little -> big endian
    result = subprocess.run(
        [sys.executable, "-m", "sr2fhir", "convert", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["resourceType"] == "Bundle"
