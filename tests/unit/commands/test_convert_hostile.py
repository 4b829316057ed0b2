"""`sr2fhir convert` on hostile files: a SOP Instance UID that is a path never names the
output file, and the configured size limits apply as in the gateway (hardening issue)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.mapping.read import dataset_size
from tests.support.sr.benchmark import benchmark_report_bytes
from tests.support.sr.part10 import from_bytes


def test_a_path_for_a_sop_instance_uid_writes_nothing_outside_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = benchmark_report_bytes(1)
    uid = str(from_bytes(data).SOPInstanceUID)
    evil = "../../evil".ljust(len(uid), "0")  # same length: every length field stays right
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "evil.dcm").write_bytes(data.replace(uid.encode(), evil.encode()))
    out = tmp_path / "a" / "b" / "out"
    assert main(["convert", str(tmp_path / "in"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"rejected: SOP Instance UID {evil!r} is not a valid UID" in err
    assert [p for p in tmp_path.rglob("*.json")] == []


def test_the_configured_data_set_limit_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = benchmark_report_bytes(1)
    path = tmp_path / "sr.dcm"
    path.write_bytes(data)
    monkeypatch.setenv("SR2FHIR_DICOM_MAX_DATASET_BYTES", str(dataset_size(data) - 1))
    assert main(["convert", str(path)]) == 1
    assert "more than dicom.max_dataset_bytes" in capsys.readouterr().err
