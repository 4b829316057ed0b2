"""FHIR R4 delivery (fhir.version: R4) to the HAPI test server started in R4 mode."""

from __future__ import annotations

import uuid

import pytest

from sr2fhir.config import load_config
from sr2fhir.delivery.fhir.sink import build_fhir_sink
from sr2fhir.mapping import convert_dataset
from sr2fhir.mapping.r4 import XVER_BODY_STRUCTURE
from sr2fhir.spool import InstanceInfo
from tests.integration.fhir_peer import FhirServer, fhir_base_r4, unique_report
from tests.support.sr.identity import PATIENT_ID_ISSUER_URI
from tests.support.sr.reports import planar_report
from tests.support.sr.volumetric import volumetric_report

pytestmark = pytest.mark.integration


def test_r4_transactions_are_accepted_end_to_end_and_resending_adds_nothing() -> None:
    server = FhirServer(fhir_base_r4())
    patient_id = f"PHI-PATIENT-{uuid.uuid4().hex[:12]}"
    subject = server.patient(PATIENT_ID_ISSUER_URI, patient_id)
    study_uid = f"2.25.{uuid.uuid4().int}"
    config = load_config(env={"SR2FHIR_FHIR_BASE_URL": server.base, "SR2FHIR_FHIR_VERSION": "R4"})
    sink = build_fhir_sink(config.fhir)
    datasets = [
        unique_report(planar_report, patient_id, study_uid),
        unique_report(volumetric_report, patient_id, study_uid),
    ]
    expected_observations = 0
    for ds in datasets:
        bundle = convert_dataset(ds)
        expected_observations += sum(
            e["resource"]["resourceType"] == "Observation" for e in bundle["entry"]
        )
        instance = InstanceInfo(str(ds.SOPClassUID), str(ds.SOPInstanceUID), "TESTSCU")
        sink.deliver(bundle, instance)
        sink.deliver(convert_dataset(ds), instance)  # again: updates, nothing new
    assert server.count("Observation", subject=subject) == expected_observations
    assert server.count("BodyStructure", patient=subject) >= 2
    observations = server.session.get(
        f"{server.base}/Observation", params={"subject": subject, "_count": "200"}, timeout=60
    ).json()["entry"]
    groups = [e["resource"] for e in observations if e["resource"].get("hasMember")]
    assert groups
    for member in groups[0]["hasMember"]:
        assert server.read(member["reference"])["resourceType"] == "Observation"
    with_site = [
        e["resource"]
        for e in observations
        if any(x["url"] == XVER_BODY_STRUCTURE for x in e["resource"].get("extension", []))
    ]
    assert with_site  # R5 bodyStructure travels as the cross-version extension
    assert "ImagingSelection" not in str(observations)
