"""The console's job pages and actions over HTTP (no browser), on a real spool: retry and
discard run only after their confirmation page and only with the session's CSRF token;
the job page renders the server's OperationOutcome; a Patient ID is searchable after login."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sr2fhir.config import Config, load_config
from sr2fhir.ops.console.app import build_console
from sr2fhir.ops.health import Check
from sr2fhir.ops.http import OpsServer
from sr2fhir.ops.queue_api import QueueApi
from sr2fhir.spool import AttemptRecord, InstanceInfo, JobStatus, Spool, open_spool
from tests.support.console import ConsoleClient
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import planar_report

TOKEN = "console-jobs-token"
OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "processing",
            "diagnostics": "Unknown ObservationStatus code 'not-a-status'",
            "expression": ["Bundle.entry[3].resource.status"],
        }
    ],
}


@dataclass
class Gateway:
    config: Config
    spool: Spool

    def alive(self) -> bool:
        return True

    def readiness(self) -> list[Check]:
        return [Check("spool", True, "writable")]

    def metrics(self) -> str:
        return ""

    def queue_api(self) -> QueueApi:
        return QueueApi(self.spool, self.config)

    def failed_job(self, patient_id: str = "PHI-UNIT-1") -> int:
        """A received report whose delivery the server refused with OUTCOME."""
        ds = planar_report()
        ds.PatientID = patient_id
        info = InstanceInfo(str(ds.SOPClassUID), str(ds.SOPInstanceUID), "UNITSCU")
        job_id = self.spool.receive(to_bytes(ds), info)
        job = self.spool.claim("test-worker")
        assert job is not None and job.id == job_id
        outcome = json.dumps(OUTCOME)
        header = json.dumps({"patient_id": patient_id, "modality": "SR"})  # as the worker keeps it
        attempt = AttemptRecord(422, "delivery refused: HTTP 422", outcome, header=header)
        self.spool.give_up(job, "delivery refused: HTTP 422", outcome, attempt)
        return job_id

    def state(self, job_id: int) -> JobStatus | None:
        job = self.spool.get(job_id)
        return None if job is None else job.status


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    (tmp_path / "token").write_text(TOKEN)
    config = load_config(
        overrides={
            "spool.data_dir": str(tmp_path / "data"),
            "http.console": True,
            "http.api_token_file": str(tmp_path / "token"),
        }
    )
    spool = open_spool(tmp_path / "data")
    yield Gateway(config, spool)
    spool.close()


@pytest.fixture
def client(gateway: Gateway) -> Iterator[ConsoleClient]:
    server = OpsServer(
        "127.0.0.1", 0, gateway, console=build_console(gateway.config, gateway, TOKEN)
    )
    server.start()
    try:
        client = ConsoleClient(server.port, follow=False)
        assert client.login(TOKEN).status == 303
        yield client
    finally:
        server.stop()


def test_retry_shows_a_confirmation_first_then_runs(
    gateway: Gateway, client: ConsoleClient
) -> None:
    job_id = gateway.failed_job()
    csrf = client.csrf("/console/jobs")
    fields: dict[str, str | list[str]] = {
        "csrf": csrf,
        "action": "retry",
        "ids": [str(job_id)],
        "back": "/console/jobs",
    }
    asked = client.post("/console/jobs/action", fields)
    assert asked.status == 200 and "Retry 1 job(s)?" in asked.body and f"#{job_id}" in asked.body
    assert gateway.state(job_id) is JobStatus.FAILED  # nothing happened yet

    done = client.post("/console/jobs/action", {**fields, "confirm": "yes"})
    assert (done.status, done.headers["Location"]) == (303, "/console/jobs")
    assert gateway.state(job_id) is JobStatus.READY
    assert f"Retried #{job_id}." in client.get("/console/jobs").body  # the flash, once
    assert "Retried" not in client.get("/console/jobs").body


def test_an_action_without_the_csrf_token_changes_nothing(
    gateway: Gateway, client: ConsoleClient
) -> None:
    job_id = gateway.failed_job()
    fields: dict[str, str | list[str]] = {"action": "retry", "ids": [str(job_id)], "confirm": "yes"}
    assert client.post("/console/jobs/action", fields).status == 403
    assert client.post("/console/jobs/action", {**fields, "csrf": "forged"}).status == 403
    assert gateway.state(job_id) is JobStatus.FAILED


def test_a_job_in_another_state_is_skipped_with_the_reason(
    gateway: Gateway, client: ConsoleClient
) -> None:
    job_id = gateway.failed_job()
    gateway.spool.retry(job_id)  # READY now
    csrf = client.csrf("/console/jobs")
    fields: dict[str, str | list[str]] = {
        "csrf": csrf,
        "action": "retry",
        "ids": [str(job_id)],
        "confirm": "yes",
        "back": "//evil.example/",
    }
    answer = client.post("/console/jobs/action", fields)
    assert answer.headers["Location"] == "/console/jobs"  # only console pages to go back to
    assert f"Skipped #{job_id}: READY, not FAILED." in client.get("/console/jobs").body


def test_the_job_page_lists_the_servers_outcome_and_offers_the_bundle(
    gateway: Gateway, client: ConsoleClient
) -> None:
    job_id = gateway.failed_job("PHI-UNIT-77")
    page = client.get(f"/console/jobs/{job_id}").body
    assert "Unknown ObservationStatus code &#x27;not-a-status&#x27;" in page or (
        "Unknown ObservationStatus code 'not-a-status'" in page
    )
    assert "at Bundle.entry[3].resource.status" in page
    assert "PHI-UNIT-77" in page  # logged in: the header facts with PHI
    assert "Group 1: " in page  # the content outline
    download = client.get(f"/console/jobs/{job_id}/bundle.json")
    assert download.status == 200
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="job-{job_id}-bundle.json"'
    )
    assert json.loads(download.body)["resourceType"] == "Bundle"
    assert client.get("/console/jobs/999999").status == 404


def test_search_finds_a_job_by_patient_id_after_login(
    gateway: Gateway, client: ConsoleClient
) -> None:
    job_id = gateway.failed_job("PHI-SEARCH-5")
    assert f'data-job="{job_id}"' in client.get("/console/jobs?q=PHI-SEARCH-5").body
    assert f'data-job="{job_id}"' not in client.get("/console/jobs?q=PHI-OTHER").body
    stranger = ConsoleClient(client.port, follow=False)
    answer = stranger.get("/console/jobs?q=PHI-SEARCH-5")
    assert answer.status == 303 and "UNITSCU" not in answer.body


def test_discard_forgets_a_failed_job_after_its_confirmation(
    gateway: Gateway, client: ConsoleClient
) -> None:
    job_id = gateway.failed_job()
    csrf = client.csrf("/console/jobs")
    fields: dict[str, str | list[str]] = {"csrf": csrf, "action": "discard", "ids": [str(job_id)]}
    asked = client.post("/console/jobs/action", fields)
    assert "Discard 1 job(s)?" in asked.body and "quarantine" in asked.body
    assert gateway.state(job_id) is JobStatus.FAILED
    client.post("/console/jobs/action", {**fields, "confirm": "yes"})
    assert gateway.state(job_id) is None
    page = client.get("/console/jobs").body
    assert f"Discarded #{job_id}." in page and f'data-job="{job_id}"' not in page


def test_the_overview_counts_jobs_per_state_and_calling_ae(
    gateway: Gateway, client: ConsoleClient
) -> None:
    gateway.failed_job()
    page = client.get("/console/").body
    failed_card = page.split('data-state="FAILED"', 1)[1].split("</div>", 1)[0]
    assert '<span class="n">1</span>' in failed_card
    assert '<a href="/console/jobs?ae=UNITSCU">UNITSCU</a>' in page
    assert "received total 1" in page  # the last hour's chart
