"""`sr2fhir send-sample` against a real `sr2fhir serve`: the first Bundle a new user sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from sr2fhir.commands.send_sample import sample_path
from tests.support.paths import REPO
from tests.support.processes import free_port, wait_until
from tests.support.serve import outbox_uids, running_gateway

pytestmark = pytest.mark.integration


def send_sample(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sr2fhir", "send-sample", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_sample_reaches_the_outbox_of_a_running_gateway(tmp_path: Path) -> None:
    uid = str(dcmread(sample_path()).SOPInstanceUID)
    with running_gateway(tmp_path / "data") as gateway:
        sent = send_sample("--port", str(gateway.port))

        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == (
            f"sample SR sent to SR2FHIR at 127.0.0.1:{gateway.port}: stored (0x0000), "
            f"SOP Instance UID {uid}\n"
        )
        assert sent.stderr == ""
        wait_until(lambda: uid in outbox_uids(gateway.outbox), 60, "the sample's Bundle")
        assert "calling_ae=SR2FHIR-SAMPLE" in gateway.log_text()


def test_a_gateway_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    sent = send_sample("--port", str(free_port()))
    assert sent.returncode == 1 and sent.stdout == ""
    assert sent.stderr.count("\n") == 1
    assert "no association (is the gateway running there?" in sent.stderr


def test_a_caller_outside_the_allow_list_is_told_why(tmp_path: Path) -> None:
    env = {"SR2FHIR_DICOM_ALLOWED_CALLERS": "[PACS1]"}
    with running_gateway(tmp_path / "data", env=env) as gateway:
        refused = send_sample("--port", str(gateway.port))
        allowed = send_sample("--port", str(gateway.port), "--aet", "PACS1")
    assert refused.returncode == 1
    assert "association rejected (is SR2FHIR-SAMPLE in the gateway's dicom.allowed_callers?" in (
        refused.stderr
    )
    assert allowed.returncode == 0, allowed.stderr
