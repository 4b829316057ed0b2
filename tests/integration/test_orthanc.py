"""Orthanc as the PACS: SRs uploaded over REST are forwarded to sr2fhir with C-STORE."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.peers import (
    outbox_uids,
    running_gateway,
    running_orthanc,
    sop_instance_uid,
    wait_until,
    write_reports,
)

pytestmark = pytest.mark.integration


def test_orthanc_forwards_every_sr_to_the_outbox(tmp_path: Path) -> None:
    files = write_reports(tmp_path / "srs", 6, start=200)
    expected = {sop_instance_uid(p) for p in files}
    with running_gateway(tmp_path / "data") as gateway:
        modalities = {"sr2fhir": ("SR2FHIR", gateway.port)}
        with running_orthanc(tmp_path / "orthanc", modalities) as orthanc:
            ids = [orthanc.upload(path) for path in files]
            answer = orthanc.store_to("sr2fhir", ids)

            assert answer["InstancesCount"] == len(files)
            assert answer["FailedInstancesCount"] == 0
            wait_until(lambda: expected <= outbox_uids(gateway.outbox), 90, "every Bundle")
        assert "calling_ae=ORTHANC" in gateway.log_text()
