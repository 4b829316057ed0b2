"""Authenticated delivery end to end, in real gateway processes, against a stand-in EHR
(tests/support/ehr_stub.py: SMART token endpoint + token-checking FHIR endpoint) on 127.0.0.1:

- `sr2fhir convert --push` with SMART Backend Services (ES384, token endpoint discovered)
  over mutual TLS; a bad key stops it at start with exit 2;
- `sr2fhir serve` + dcmtk storescu with SMART Backend Services (RS384): one token for many
  SRs, a revoked token -> one refresh and retry, nothing lost. With the HAPI test server
  (SR2FHIR_TEST_FHIR_URL) the stand-in is a token-checking proxy in front of it.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from pydicom.dataset import Dataset

from sr2fhir.mapping import convert_dataset
from tests.integration.fhir_peer import (
    FAST_RETRIES,
    FhirServer,
    fhir_base,
    unique_report,
    wait_done,
)
from tests.support import pki
from tests.support.dcmtk import storescu
from tests.support.ehr_stub import StubEhr
from tests.support.paths import REPO
from tests.support.serve import running_gateway
from tests.support.sr.identity import PATIENT_ID_ISSUER_URI
from tests.support.sr.part10 import write_datasets
from tests.support.sr.reports import planar_report
from tests.support.sr.volumetric import volumetric_report

pytestmark = pytest.mark.integration

SCOPES = "system/Observation.cu system/Patient.rs system/ImagingStudy.rs"
CLIENT_ID = "sr2fhir-gateway-test"


def _sr2fhir(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sr2fhir", *args]
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )


def test_convert_push_with_smart_backend_over_mutual_tls(tmp_path: Path) -> None:
    ca = pki.TestCa(tmp_path)
    client = ca.issue("sr2fhir-gateway", client=True)
    key = pki.ec_key()  # ES384
    key_file = pki.write_key(tmp_path / "smart.key", key)
    files = write_datasets(tmp_path / "in", [planar_report(), volumetric_report()])
    tls = pki.server_tls_context(ca)  # mutual TLS
    with StubEhr(public_key=key.public_key(), client_id=CLIENT_ID, key_id="k-2024", tls=tls) as ehr:
        config = tmp_path / "sr2fhir.yaml"
        config.write_text(
            "fhir:\n"
            f"  base_url: {ehr.base}\n"
            f"  ca_bundle: {ca.pem}\n"
            f"  client_cert: {client.cert}\n"
            f"  client_key: {client.key}\n"
            "  auth_kind: smart-backend\n"
            f"  smart_client_id: {CLIENT_ID}\n"
            f"  smart_key_file: {key_file}\n"
            "  smart_key_id: k-2024\n"
            f"  smart_scopes: {SCOPES}\n"
        )
        pushed = _sr2fhir("convert", "--push", "--config", str(config), *map(str, files))
        assert pushed.returncode == 0, pushed.stderr

        key_file.write_text("not a key")  # a broken key stops the run before any request
        broken = _sr2fhir("convert", "--push", "--config", str(config), *map(str, files))
        assert broken.returncode == 2
        assert "fhir.smart_key_file" in broken.stderr and "not a PEM private key" in broken.stderr

    assert len(ehr.transactions) == len(files)
    assert ehr.scopes == [SCOPES]  # one token for the whole run, discovered over mutual TLS
    assert ehr.assertion_problems == [] and ehr.tls_errors == []
    assert {status for *_, status in ehr.fhir_requests} == {200}
    tokens = [*ehr.issued, "eyJ"]  # no access token and no JWT in what the command printed
    assert not any(t in pushed.stdout + pushed.stderr for t in tokens)


# ---------------------------------------------------------------- serve + storescu


def _serve_env(ehr: StubEhr, key_file: Path) -> dict[str, str]:
    return {
        "SR2FHIR_DELIVERY_SINK": "fhir",
        "SR2FHIR_FHIR_BASE_URL": ehr.base,
        "SR2FHIR_FHIR_AUTH_KIND": "smart-backend",
        "SR2FHIR_FHIR_SMART_CLIENT_ID": CLIENT_ID,
        "SR2FHIR_FHIR_SMART_KEY_FILE": str(key_file),
        "SR2FHIR_FHIR_SMART_SCOPES": SCOPES,
        "SR2FHIR_FHIR_SMART_TOKEN_URL": ehr.token_url,
        "SR2FHIR_WORKERS_COUNT": "1",  # one worker: one token cache to count
        **FAST_RETRIES,
    }


def _reports(make: Callable[[], Dataset], count: int, patient_id: str) -> list[Dataset]:
    study_uid = f"2.25.{uuid.uuid4().int}"
    return [unique_report(make, patient_id, study_uid) for _ in range(count)]


def _observations(datasets: list[Dataset]) -> int:
    return sum(
        entry["resource"]["resourceType"] == "Observation"
        for ds in datasets
        for entry in convert_dataset(ds)["entry"]
    )


@pytest.mark.parametrize("upstream", ["stand-in", "hapi"])
def test_serve_delivers_with_smart_backend_and_survives_a_revoked_token(
    upstream: str, tmp_path: Path
) -> None:
    hapi = FhirServer(fhir_base()) if upstream == "hapi" else None
    patient_id = f"PHI-AUTH-{uuid.uuid4().hex[:10]}"
    subject = hapi.patient(PATIENT_ID_ISSUER_URI, patient_id) if hapi else None
    key = pki.rsa_key()  # RS384
    key_file = pki.write_key(tmp_path / "smart.key", key)
    first = _reports(planar_report, 3, patient_id)
    second = _reports(volumetric_report, 2, patient_id)
    with (
        StubEhr(
            public_key=key.public_key(),
            client_id=CLIENT_ID,
            expires_in=600,
            upstream=hapi.base if hapi else None,
        ) as ehr,
        running_gateway(tmp_path / "data", env=_serve_env(ehr, key_file)) as gateway,
    ):
        sent = storescu(gateway.port, write_datasets(tmp_path / "first", first))
        assert sent.returncode == 0, sent.stderr
        wait_done(gateway, len(first))
        assert len(ehr.scopes) == 1  # one token for every search and transaction so far

        ehr.revoke_all()  # the EHR forgets the token the gateway holds
        sent = storescu(gateway.port, write_datasets(tmp_path / "second", second))
        assert sent.returncode == 0, sent.stderr
        wait_done(gateway, len(first) + len(second))

        unauthenticated = requests.get(f"{ehr.base}/metadata", timeout=30)
        log = gateway.log_text()

    assert unauthenticated.status_code == 401
    statuses = [status for *_, status in ehr.fhir_requests]
    assert statuses.count(401) == 2  # the revoked token's request, and ours just above
    assert statuses[statuses.index(401) + 1] == 200  # ... retried at once with a new token
    assert len(ehr.scopes) == 2 and ehr.assertion_problems == []
    assert "retrying once" in log
    assert not any(token in log for token in ehr.issued)
    if hapi is None:
        assert len(ehr.transactions) == len(first) + len(second)
    else:
        assert hapi.count("Observation", subject=str(subject)) == _observations(first + second)
