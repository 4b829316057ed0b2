"""References that resolve later, against HAPI FHIR R5: with fhir.unresolved_reference hold
a report whose Patient the EHR registers after the SR arrives waits HELD (through a gateway
restart, on either job store) and is delivered with literal references once the Patient is
there; `queue release` delivers at once with what it has; after fhir.hold_max the fallback
applies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.mapping import convert_dataset
from tests.integration.fhir_peer import FhirServer, fhir_base, unique_report, wait_done
from tests.support.dcmtk import storescu
from tests.support.postgres import fresh_database, spool_env
from tests.support.processes import stop_process, wait_until
from tests.support.serve import GatewayProcess, running_gateway, start_gateway
from tests.support.sr.identity import ACCESSION_ISSUER_URI, PATIENT_ID_ISSUER_URI
from tests.support.sr.part10 import write_datasets
from tests.support.sr.reports import planar_report

pytestmark = pytest.mark.integration

LATER = 30.0  # seconds after the C-STORE when the EHR registers the Patient


@pytest.fixture(scope="module")
def server() -> FhirServer:
    return FhirServer(fhir_base())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The job store of the gateway and of `sr2fhir queue` (through the environment)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    with fresh_database() as url:
        for name, value in spool_env("postgresql", url).items():
            monkeypatch.setenv(name, value)
        yield "postgresql"


def hold_env(server: FhirServer, **keys: str) -> dict[str, str]:
    settings = {"unresolved_reference": "hold", "hold_retry": "2", **keys}
    return {
        "SR2FHIR_DELIVERY_SINK": "fhir",
        "SR2FHIR_FHIR_BASE_URL": server.base,
        **{f"SR2FHIR_FHIR_{key.upper()}": value for key, value in settings.items()},
    }


def new_patient_report(server: FhirServer) -> tuple[Any, str]:
    """A report of a patient the server does not know yet; its order and study exist."""
    patient_id = f"PHI-PATIENT-{uuid.uuid4().hex[:12]}"
    study_uid = f"2.25.{uuid.uuid4().int}"
    ds = unique_report(planar_report, patient_id, study_uid)
    ds.AccessionNumber = f"ACC-{uuid.uuid4().hex[:12]}"  # one ServiceRequest matches it
    elsewhere = server.patient(PATIENT_ID_ISSUER_URI, f"OTHER-{uuid.uuid4().hex[:12]}")
    server.imaging_study(study_uid, elsewhere)
    server.service_request(ACCESSION_ISSUER_URI, str(ds.AccessionNumber), elsewhere)
    return ds, patient_id


def job_state(gateway: GatewayProcess, job_id: int = 1) -> str:
    for line in gateway.queue("show", str(job_id)).splitlines():
        if line.startswith("state:"):
            return line.split()[1]
    raise AssertionError("no state in `queue show`")


def observations(ds: Any) -> list[dict[str, Any]]:
    bundle = convert_dataset(ds)
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]


def test_a_report_waits_held_through_a_restart_until_the_patient_exists(
    server: FhirServer, backend: str, tmp_path: Path
) -> None:
    ds, patient_id = new_patient_report(server)
    files = write_datasets(tmp_path / "in", [ds])
    env = hold_env(server)
    gateway = start_gateway(tmp_path / "data", env=env)
    try:
        sent_at = time.monotonic()
        assert storescu(gateway.port, files).returncode == 0
        # Polled: between two looks the job may be LOCKED for its next try (hold_retry).
        wait_until(
            lambda: "waiting for Patient" in gateway.queue("list", "--held"),
            60,
            "the job listed as HELD, waiting for its Patient",
        )
    finally:
        stop_process(gateway.proc)
    with running_gateway(tmp_path / "data", env=env) as gateway:
        counts = gateway.job_counts()  # HELD, or LOCKED for a moment at its next try
        assert (counts["HELD"] + counts["LOCKED"], counts["DONE"]) == (1, 0)  # nothing lost

        def later() -> bool:  # HELD all along (LOCKED for a moment at each try)
            assert job_state(gateway) in ("HELD", "LOCKED"), gateway.log_text()[-2000:]
            return time.monotonic() - sent_at >= LATER

        wait_until(later, LATER + 60, f"{LATER:.0f} s of holding", every=1.0)
        wait_until(lambda: gateway.log_text().count("HELD") >= 3, 60, "tries while held")
        patient = server.patient(PATIENT_ID_ISSUER_URI, patient_id)
        wait_done(gateway, 1)
    expected = observations(ds)
    assert server.count("Observation", subject=patient) == len(expected)  # no duplicates
    for resource in expected:
        stored = server.read(f"Observation/{resource['id']}")
        assert stored["subject"]["reference"] == patient
        assert stored["partOf"][0]["reference"].startswith("ImagingStudy/")


def test_release_delivers_a_held_report_with_the_references_it_has(
    server: FhirServer, tmp_path: Path
) -> None:
    ds, _ = new_patient_report(server)
    files = write_datasets(tmp_path / "in", [ds])
    env = hold_env(server, hold_retry="3600")  # only `queue release` moves it
    with running_gateway(tmp_path / "data", env=env) as gateway:
        assert storescu(gateway.port, files).returncode == 0
        wait_until(lambda: job_state(gateway) == "HELD", 60, "the job to be HELD")
        assert gateway.queue("release", "1").startswith("job 1 released")
        wait_done(gateway, 1)
    group = server.read(f"Observation/{observations(ds)[0]['id']}")
    assert "reference" not in group["subject"]  # identifier only: the Patient is not there
    assert group["subject"]["identifier"]["value"] == str(ds.PatientID)
    assert group["partOf"][0]["reference"].startswith("ImagingStudy/")  # found: literal


def test_after_hold_max_the_fail_fallback_fails_the_job(server: FhirServer, tmp_path: Path) -> None:
    ds, _ = new_patient_report(server)
    files = write_datasets(tmp_path / "in", [ds])
    env = hold_env(server, hold_retry="1", hold_max="3", hold_fallback="fail")
    with running_gateway(tmp_path / "data", env=env) as gateway:
        assert storescu(gateway.port, files).returncode == 0
        wait_until(lambda: job_state(gateway) == "FAILED", 90, "the hold to run out")
        assert "patient not found on the server" in gateway.queue("show", "1")
