"""The queue API against a real `sr2fhir serve`: dcmtk's storescu sends, a FHIR server in
front of HAPI R5 refuses the first delivery (a wrong bearer token: HTTP 401), the API shows
the attempt and the server's OperationOutcome, and a retry through the API delivers to HAPI."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import requests

from tests.integration.fhir_peer import FAST_RETRIES, FhirServer, fhir_base, unique_report
from tests.support.dcmtk import storescu
from tests.support.ehr_stub import StubEhr
from tests.support.processes import wait_until
from tests.support.queue_api import ApiClient, api_of
from tests.support.serve import running_gateway
from tests.support.sr.part10 import write_datasets
from tests.support.sr.reports import planar_report

RIGHT = "ehr-token-" + "r" * 20


def _env(ehr: StubEhr, fhir_token: Path, api_token: str) -> dict[str, str]:
    return {
        "SR2FHIR_DELIVERY_SINK": "fhir",
        "SR2FHIR_FHIR_BASE_URL": ehr.base,
        "SR2FHIR_FHIR_AUTH_KIND": "bearer",
        "SR2FHIR_FHIR_AUTH_TOKEN_FILE": str(fhir_token),
        "SR2FHIR_HTTP_PORT": "0",
        "SR2FHIR_HTTP_API_TOKEN_ENV": "SR2FHIR_TEST_API_TOKEN",
        "SR2FHIR_TEST_API_TOKEN": api_token,
        "SR2FHIR_WORKERS_COUNT": "1",
        **FAST_RETRIES,
    }


def _state(api: ApiClient, job_id: int) -> str:
    return str(api.get(f"/api/jobs/{job_id}")["summary"]["state"])


def test_a_refused_job_is_shown_and_retried_through_the_api(tmp_path: Path) -> None:
    hapi = FhirServer(fhir_base())
    patient_id = f"PHI-API-{uuid.uuid4().hex[:10]}"
    ds = unique_report(planar_report, patient_id, f"2.25.{uuid.uuid4().int}")
    uid = str(ds.SOPInstanceUID)
    fhir_token = tmp_path / "ehr.token"
    fhir_token.write_text("a-wrong-token\n")
    api_token = secrets.token_hex(16)
    with (
        StubEhr(bearer_tokens=(RIGHT,), upstream=hapi.base) as ehr,
        running_gateway(tmp_path / "data", env=_env(ehr, fhir_token, api_token)) as gateway,
    ):
        api = api_of(gateway, api_token)
        assert api.call("GET", "/api/jobs", token="").status_code == 401
        assert api.call("GET", "/api/jobs", token=api_token[:-1] + "x").status_code == 401
        sent = storescu(gateway.port, write_datasets(tmp_path / "in", [ds]))
        assert sent.returncode == 0, sent.stderr

        def failed() -> int | None:
            jobs = api.get("/api/jobs", params={"state": "failed", "q": uid})["jobs"]
            return int(jobs[0]["id"]) if jobs else None

        job_id = wait_until(failed, 120, "the refused job to be FAILED")
        detail = api.get(f"/api/jobs/{job_id}")
        (attempt,) = detail["attempts"]
        assert attempt["http_status"] == 401 and attempt["locations"] == []
        assert attempt["outcome"]["resourceType"] == "OperationOutcome"
        assert detail["outcome"]["resourceType"] == "OperationOutcome"
        assert detail["header"]["patient_id"] == patient_id  # an authenticated caller
        assert detail["summary"]["calling_ae"] == "TESTSCU"
        shown = gateway.queue("show", str(job_id))
        assert "attempt 1:" in shown and " 401 " in shown and patient_id not in shown

        fhir_token.write_text(RIGHT)  # the token is fixed (re-read on every request) ...
        retried = api.call("POST", f"/api/jobs/{job_id}/retry")
        assert retried.status_code == 200 and retried.json() == {"done": [job_id], "skipped": {}}
        wait_until(lambda: _state(api, job_id) == "DONE", 120, "the retried job to be DONE")
        detail = api.get(f"/api/jobs/{job_id}")
        first, second = detail["attempts"]
        assert (first["http_status"], second["http_status"]) == (401, 200)
        assert second["error"] is None and second["locations"]
        again = api.call("POST", f"/api/jobs/{job_id}/retry")
        assert again.status_code == 409 and again.json() == {
            "error": f"job {job_id}: DONE, not FAILED"
        }
        stats = api.get("/api/stats")
        assert stats["counts"]["DONE"] == 1 and sum(stats["delivered_per_minute"]) == 1
        assert stats["latency_p50_24h"] is not None
        assert stats["per_calling_ae"] == {"TESTSCU": {"DONE": 1}}

    location = second["locations"][0]
    resource = requests.get(f"{hapi.base}/{location}", timeout=30)
    assert resource.status_code == 200, location
