"""Delivery to a real FHIR server (HAPI FHIR, tests/fhir-server): end to end from dcmtk
storescu through `sr2fhir serve`, reference resolution, idempotency, outage, refusal."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.cli import main
from sr2fhir.config import load_config
from sr2fhir.delivery.fhir.sink import build_fhir_sink
from sr2fhir.mapping import convert_dataset
from sr2fhir.report_facts import MappedReport
from sr2fhir.spool import InstanceInfo, JobStatus, open_spool
from sr2fhir.worker import Worker, make_converter
from tests.integration.fhir_peer import (
    FAST_RETRIES,
    IG,
    FhirServer,
    TcpProxy,
    fhir_base,
    unique_report,
    wait_done,
)
from tests.support.dcmtk import storescu
from tests.support.processes import wait_until
from tests.support.serve import running_gateway
from tests.support.sr.bad_inputs import ct_image_bytes
from tests.support.sr.documents import as_sop_class
from tests.support.sr.identity import ACCESSION_ISSUER_URI, PATIENT_ID_ISSUER_URI
from tests.support.sr.part10 import to_bytes, write_datasets
from tests.support.sr.reports import planar_report, qualifier_report
from tests.support.sr.volumetric import volumetric_report

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> FhirServer:
    return FhirServer(fhir_base())


def _fhir_env(base: str) -> dict[str, str]:
    return {"SR2FHIR_DELIVERY_SINK": "fhir", "SR2FHIR_FHIR_BASE_URL": base, **FAST_RETRIES}


def _expected(datasets: list[Any]) -> Counter[str]:
    """What our own mapping makes of the reports: resources per IG profile and per type."""
    found: Counter[str] = Counter()
    for ds in datasets:
        for entry in convert_dataset(ds)["entry"]:
            resource = entry["resource"]
            found[resource["meta"]["profile"][0]] += 1
            found[resource["resourceType"]] += 1
    return found


@pytest.fixture
def patient(server: FhirServer) -> tuple[str, str]:
    """A Patient that exists on the server: (patient id value, Patient/<id>)."""
    value = f"PHI-PATIENT-{uuid.uuid4().hex[:12]}"
    return value, server.patient(PATIENT_ID_ISSUER_URI, value)


def test_end_to_end_storescu_gateway_hapi_then_resending_creates_no_duplicates(
    server: FhirServer, patient: tuple[str, str], tmp_path: Path
) -> None:
    patient_id, subject = patient
    study_uid = f"2.25.{uuid.uuid4().int}"
    study = server.imaging_study(study_uid, subject)
    datasets = [
        unique_report(planar_report, patient_id, study_uid),
        as_sop_class(unique_report(volumetric_report, patient_id, study_uid), "comprehensive3d"),
    ]
    files = write_datasets(tmp_path / "in", datasets)
    expected = _expected(datasets)
    with running_gateway(tmp_path / "data", env=_fhir_env(server.base)) as gateway:
        sent = storescu(gateway.port, files)
        assert sent.returncode == 0, sent.stderr
        wait_done(gateway, len(files))

        observations = server.count("Observation", subject=subject)
        for profile in (
            "imaging-measurement-group",
            "imaging-measurement",
            "imaging-qualitative-evaluation",
        ):
            got = server.count("Observation", subject=subject, _profile=IG + profile)
            assert got == expected[IG + profile], profile
        selections = sum(n for p, n in expected.items() if "ImagingSelection" in p) or sum(
            n
            for p, n in expected.items()
            if p.rsplit("/", 1)[1]
            not in {
                "imaging-measurement-group",
                "imaging-measurement",
                "imaging-qualitative-evaluation",
                "dicom-general-equipment",
                "algorithm-identification",
                "dicom-sr-finding-site",
                "derived-imaging-measurement",
                "dicom-participant-device",
            }
        )
        assert server.count("ImagingSelection", subject=subject) == selections
        assert (
            server.count("BodyStructure", patient=subject) == expected[IG + "dicom-sr-finding-site"]
        )
        device_uid = str(datasets[0].DeviceUID)
        assert server.count("Device", identifier=f"urn:dicom:uid|urn:oid:{device_uid}") == 1
        # every Observation of the study is found through it (partOf resolved to the study)
        assert server.count("Observation", **{"part-of": study}) == observations
        group_id = _group_id(datasets[0])
        group = server.read(f"Observation/{group_id}")
        assert group["subject"]["reference"] == subject
        for member in group["hasMember"]:
            assert server.read(member["reference"])["resourceType"] == "Observation"

        for _ in range(2):  # the same SRs twice more: updates, never new resources
            assert storescu(gateway.port, files).returncode == 0
        wait_done(gateway, 3 * len(files))
        assert server.count("Observation", subject=subject) == observations
        assert server.count("ImagingSelection", subject=subject) == selections
        assert server.count("Device", identifier=f"urn:dicom:uid|urn:oid:{device_uid}") == 1


def _group_id(ds: Any) -> str:
    bundle = convert_dataset(ds)
    group = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["meta"]["profile"] == [IG + "imaging-measurement-group"]
    )
    return str(group["id"])


def test_references_are_literal_when_found_and_logical_when_not(
    server: FhirServer, patient: tuple[str, str], tmp_path: Path
) -> None:
    patient_id, subject = patient
    study_uid = f"2.25.{uuid.uuid4().int}"
    accession = f"ACC-{uuid.uuid4().hex[:8]}"
    request = server.service_request(ACCESSION_ISSUER_URI, accession, subject)
    ds = unique_report(qualifier_report, patient_id, study_uid)
    ds.AccessionNumber = accession
    config = load_config(env={"SR2FHIR_FHIR_BASE_URL": server.base})
    sink = build_fhir_sink(config.fhir)
    bundle = convert_dataset(ds)
    sink.deliver(bundle, None)  # type: ignore[arg-type]
    stored = server.read(f"Observation/{_group_id(ds)}")
    assert stored["subject"]["reference"] == subject
    assert stored["basedOn"][0]["reference"] == request
    assert "reference" not in stored["partOf"][0]  # no such ImagingStudy: logical
    assert stored["partOf"][0]["identifier"]["value"] == f"urn:oid:{study_uid}"

    stranger = unique_report(qualifier_report, f"UNKNOWN-{uuid.uuid4().hex}", study_uid)
    sink.deliver(convert_dataset(stranger), None)  # type: ignore[arg-type]
    logical = server.read(f"Observation/{_group_id(stranger)}")
    assert "reference" not in logical["subject"]
    assert logical["subject"]["identifier"]["system"] == PATIENT_ID_ISSUER_URI


def test_an_outage_delays_but_loses_nothing(
    server: FhirServer, patient: tuple[str, str], tmp_path: Path
) -> None:
    patient_id, subject = patient
    study_uid = f"2.25.{uuid.uuid4().int}"
    datasets = [unique_report(qualifier_report, patient_id, study_uid) for _ in range(3)]
    files = write_datasets(tmp_path / "in", datasets)
    proxy = TcpProxy(server.base)  # not started: the server is unreachable
    try:
        with running_gateway(tmp_path / "data", env=_fhir_env(proxy.base)) as gateway:
            sent = storescu(gateway.port, files)
            assert sent.returncode == 0, sent.stderr  # acknowledged although FHIR is down

            def retried() -> bool:
                return "retry in" in gateway.log_text()

            wait_until(retried, 60, "a failed delivery attempt", every=0.2)
            assert gateway.job_counts()["DONE"] == 0
            proxy.start()
            wait_done(gateway, len(files))
        groups = server.count(
            "Observation", subject=subject, _profile=IG + "imaging-measurement-group"
        )
        assert groups == len(files)  # each SR exactly once
    finally:
        proxy.stop()


def test_a_refused_bundle_fails_with_the_servers_outcome_in_queue_show(
    server: FhirServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    spool = open_spool(data_dir)
    ds = unique_report(qualifier_report, "PHI-PATIENT-4711", f"2.25.{uuid.uuid4().int}")
    instance = InstanceInfo(str(ds.SOPClassUID), str(ds.SOPInstanceUID), "TESTSCU")
    job_id = spool.receive(to_bytes(ds), instance)
    convert = make_converter(load_config(env={}).mapping_options)

    def broken(data: bytes) -> MappedReport:
        mapped = convert(data)
        mapped.bundle["entry"][-1]["resource"]["status"] = "not-a-status"  # HAPI refuses this
        return mapped

    sink = build_fhir_sink(load_config(env={"SR2FHIR_FHIR_BASE_URL": server.base}).fhir)
    assert Worker(spool, broken, sink, "test-worker").run_once()
    job = spool.jobs.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.outcome and json.loads(job.outcome)["resourceType"] == "OperationOutcome"
    spool.close()
    assert main(["queue", "--data-dir", str(data_dir), "show", str(job_id)]) == 0
    out = capsys.readouterr().out
    assert "outcome (the FHIR server's OperationOutcome)" in out and "not-a-status" in out


def test_convert_push_backfills_a_folder_with_a_summary(
    server: FhirServer,
    patient: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patient_id, subject = patient
    study_uid = f"2.25.{uuid.uuid4().int}"
    datasets = [unique_report(qualifier_report, patient_id, study_uid) for _ in range(2)]
    folder = tmp_path / "backfill"
    write_datasets(folder, datasets)
    (folder / "ct.dcm").write_bytes(ct_image_bytes())
    monkeypatch.setenv("SR2FHIR_FHIR_BASE_URL", server.base)
    assert main(["convert", str(folder), "--push"]) == 1  # the CT image is not an SR
    err = capsys.readouterr().err
    assert f"pushed to {server.base}: sent 2, failed 0, skipped 1" in err
    assert "ct.dcm: rejected: not an SR" in err
    groups = server.count("Observation", subject=subject, _profile=IG + "imaging-measurement-group")
    assert groups == 2
