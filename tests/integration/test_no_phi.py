"""No PHI in logs or the audit trail: a full receive -> map -> FHIR delivery cycle at DEBUG.

The report carries a known patient name and ID; neither may appear in any line the gateway
writes (its log at DEBUG, every audit file), whatever the log level.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.integration.fhir_peer import FhirServer, fhir_base, new_uid
from tests.support.dcmtk import storescu
from tests.support.processes import wait_until
from tests.support.serve import running_gateway
from tests.support.sr.reports import planar_report

pytestmark = pytest.mark.integration

NAME = "ZEBRAFISH^PHILOMENA^Q"
PATIENT_ID = "PHI-ID-93847561"
PHI = ("ZEBRAFISH", "PHILOMENA", PATIENT_ID)


def test_a_full_cycle_at_debug_level_logs_and_audits_no_phi(tmp_path: Path) -> None:
    server = FhirServer(fhir_base())
    server.patient("http://test-hospital.example/mrn", PATIENT_ID)  # found: literal reference
    ds = copy.deepcopy(planar_report())
    ds.PatientName = NAME
    ds.PatientID = PATIENT_ID
    ds.SOPInstanceUID = new_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / "phi.dcm"
    ds.save_as(path, enforce_file_format=True)
    bad = tmp_path / "bad.dcm"  # a rejection must not leak either
    bad_ds = copy.deepcopy(ds)
    bad_ds.SOPInstanceUID = new_uid()
    bad_ds.file_meta.MediaStorageSOPInstanceUID = bad_ds.SOPInstanceUID
    del bad_ds.ContentTemplateSequence
    bad_ds.ConceptNameCodeSequence[0].CodeValue = "18748-4"
    bad_ds.ConceptNameCodeSequence[0].CodingSchemeDesignator = "LN"
    # nor any TID 1500 container: nothing says it is a Measurement Report (rejected)
    bad_ds.ContentSequence = [i for i in bad_ds.ContentSequence if i.ValueType != "CONTAINER"]
    bad_ds.save_as(bad, enforce_file_format=True)
    env = {
        "SR2FHIR_DELIVERY_SINK": "fhir",
        "SR2FHIR_FHIR_BASE_URL": server.base,
        "SR2FHIR_LOGGING_LEVEL": "DEBUG",
    }
    data_dir = tmp_path / "data"
    with running_gateway(data_dir, env=env) as gateway:
        assert storescu(gateway.port, [path, bad]).returncode == 0

        def settled() -> bool:
            counts = gateway.job_counts()
            return counts["DONE"] + counts["FAILED"] == 2

        wait_until(settled, 240, "both jobs finished", every=0.5)
        gateway.queue("list")
    log_text = gateway.log_text()
    assert "DEBUG" in log_text and str(ds.SOPInstanceUID) in log_text  # it did log, verbosely
    audit_files = list((data_dir / "audit").glob("*.jsonl"))
    assert audit_files
    audit_text = "".join(p.read_text() for p in audit_files)
    for event in ("association-accepted", "instance-received", "delivered", "failed"):
        assert f'"event":"{event}"' in audit_text, event
    for text, where in ((log_text, "gateway log"), (audit_text, "audit trail")):
        for secret in PHI:
            assert secret not in text, f"{secret} found in the {where}"
