"""dcmtk as the sender: storescu -R, echoscu, refused SOP classes, the calling-AE allow-list."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import srfactory
from tests.integration.peers import (
    REPO,
    GatewayProcess,
    echoscu,
    outbox_uids,
    running_gateway,
    storescu,
    wait_until,
    write_reports,
)

pytestmark = pytest.mark.integration

ALLOWED = "TESTSCU"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway for the module, accepting only calling AE TESTSCU."""
    data_dir = tmp_path_factory.mktemp("dcmtk") / "data"
    env = {"SR2FHIR_DICOM_ALLOWED_CALLERS": f"[{ALLOWED}]", "SR2FHIR_WORKERS_MODE": "process"}
    with running_gateway(data_dir, env=env) as running:
        yield running


def queue(gateway: GatewayProcess, *args: str) -> str:
    command = [sys.executable, "-m", "sr2fhir", "queue", "--data-dir", str(gateway.data_dir)]
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=REPO, check=True, timeout=60
    )
    return result.stdout


def test_storescu_sends_a_folder_of_srs_including_comprehensive_3d(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "srs"
    files = write_reports(folder, 4)
    volumetric = srfactory.volumetric_report("dcmtk-3d")
    assert volumetric.SOPClassUID == srfactory.SOP_CLASSES["comprehensive3d"]
    enhanced = srfactory.as_sop_class(
        srfactory.benchmark_report(90), "enhanced", sop_instance_uid=srfactory.make_uid("enh")
    )
    for name, ds in (("3d.dcm", volumetric), ("enhanced.dcm", enhanced)):
        (folder / name).write_bytes(srfactory.to_bytes(ds))
        files.append(folder / name)
    expected = {srfactory.from_bytes(p.read_bytes()).SOPInstanceUID for p in files}

    result = storescu(gateway.port, files)

    assert result.returncode == 0, result.stderr
    wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "every Bundle")
    status = queue(gateway, "status")
    assert "FAILED  0" in status


def test_a_ct_image_is_refused_at_negotiation(gateway: GatewayProcess, tmp_path: Path) -> None:
    ct = tmp_path / "ct.dcm"
    ct.write_bytes(srfactory.ct_image_bytes())
    before = queue(gateway, "list")

    result = storescu(gateway.port, [ct])

    assert result.returncode != 0
    assert "no acceptable presentation contexts" in (result.stdout + result.stderr).lower()
    assert queue(gateway, "list") == before


def test_echoscu_gets_a_verification_answer(gateway: GatewayProcess) -> None:
    result = echoscu(gateway.port, calling=ALLOWED)
    assert result.returncode == 0, result.stderr


def test_an_unknown_calling_ae_is_rejected(gateway: GatewayProcess, tmp_path: Path) -> None:
    result = echoscu(gateway.port, calling="INTRUDER")
    assert result.returncode != 0
    assert "calling ae title not recognized" in (result.stdout + result.stderr).lower()
    sent = storescu(gateway.port, write_reports(tmp_path, 1, start=500), calling="INTRUDER")
    assert sent.returncode != 0
    gateway.wait_for_log("INTRUDER")

    def rejections() -> list[str]:  # recorded when the connection closes, after the A-ASSOC-RJ
        audit = "".join(p.read_text() for p in (gateway.data_dir / "audit").glob("*.jsonl"))
        lines = [line for line in audit.splitlines() if '"event":"association-rejected"' in line]
        return lines if len(lines) >= 2 else []

    rejected = wait_until(rejections, 30, "both rejections in the audit trail")
    assert all('"calling_ae":"INTRUDER"' in line for line in rejected)
    assert '"peer":"127.0.0.1:' in rejected[0]


def test_a_non_tid1500_sr_is_acknowledged_then_quarantined(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    path = tmp_path / "basic.dcm"
    path.write_bytes(srfactory.basic_text_sr_bytes())
    uid = str(srfactory.from_bytes(path.read_bytes()).SOPInstanceUID)

    result = storescu(gateway.port, [path])

    assert result.returncode == 0, result.stderr
    failed = wait_until(lambda: uid in queue(gateway, "list", "--state", "FAILED"), 60, "FAILED")
    assert failed
    job_id = next(
        line.split()[0]
        for line in queue(gateway, "list", "--state", "FAILED").splitlines()
        if uid in line
    )
    shown = queue(gateway, "show", job_id)
    assert "quarantine/" in shown and "last_error:" in shown
    assert uid not in outbox_uids(gateway.outbox)
