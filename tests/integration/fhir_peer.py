"""Helpers for tests against the HAPI FHIR test server: unique data per run, counts, a proxy
that can take the server away and give it back, waiting for a gateway to deliver."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from pydicom.dataset import Dataset

from tests.support.processes import wait_until
from tests.support.serve import GatewayProcess
from tests.support.sr.lifecycle import with_fresh_observation_uids

Json = dict[str, Any]
IG = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"

__all__ = [
    "FAST_RETRIES",
    "FhirServer",
    "TcpProxy",
    "fhir_base",
    "fhir_base_r4",
    "unique_report",
    "wait_done",
]

TIMEOUT = 60  # seconds per request; a transaction on a busy 2-core machine can take seconds
HEADERS = {
    "Accept": "application/fhir+json",
    "Content-Type": "application/fhir+json",
    # Never let a server answer a count from a cached search.
    "Cache-Control": "no-cache",
}


def _server_url(variable: str, how_to_start: str) -> str:
    """A test server's base URL from the environment; fail without it in CI, skip elsewhere."""
    url = os.environ.get(variable, "").strip().rstrip("/")
    if not url:
        message = f"{variable} is not set: {how_to_start}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def fhir_base() -> str:
    """The R5 test server (tests/fhir-server)."""
    return _server_url(
        "SR2FHIR_TEST_FHIR_URL",
        "start it with `tests/fhir-server/run.sh start` and run the tests with "
        "SR2FHIR_TEST_FHIR_URL=$(tests/fhir-server/run.sh url)",
    )


def fhir_base_r4() -> str:
    """The R4 test server: a second run.sh state folder (docs/fhir-server.md)."""
    return _server_url(
        "SR2FHIR_TEST_FHIR_R4_URL",
        "start it with `TEST_FHIR_SERVER_STATE=tests/fhir-server/.run-r4 "
        "tests/fhir-server/run.sh start --fhir-version R4`",
    )


FAST_RETRIES = {"SR2FHIR_WORKERS_BACKOFF_INITIAL": "0.2", "SR2FHIR_WORKERS_BACKOFF_MAX": "1.0"}
"""A gateway subprocess's environment for retries after 0.2 s, at most 1 s apart."""


def wait_done(gateway: GatewayProcess, done: int, timeout: float = 240) -> None:
    """Poll the gateway's queue until `done` jobs are DONE; fail at once on a FAILED one."""

    def finished() -> bool:
        counts = gateway.job_counts()
        assert counts["FAILED"] == 0, gateway.log_text()[-3000:]
        return counts["DONE"] >= done

    wait_until(finished, timeout, f"{done} jobs delivered", every=0.5)


def new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def unique_report(build: Callable[[], Dataset], patient_id: str, study_uid: str) -> Dataset:
    """A factory report made unique for this run: own SOP Instance UID, Observation UIDs (they
    key the Observations' ids), patient and study."""
    uid = new_uid()
    ds = with_fresh_observation_uids(build(), uid)
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    for study in ds.get("CurrentRequestedProcedureEvidenceSequence") or ():
        study.StudyInstanceUID = study_uid
    return ds


class FhirServer:
    """The few FHIR calls the tests make, with caching switched off."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(HEADERS)

    def create(self, resource: Json) -> str:
        r = self.session.post(
            f"{self.base}/{resource['resourceType']}", json=resource, timeout=TIMEOUT
        )
        assert r.status_code == 201, r.text[:1000]
        return f"{resource['resourceType']}/{r.json()['id']}"

    def read(self, reference: str) -> Json:
        r = self.session.get(f"{self.base}/{reference}", timeout=TIMEOUT)
        assert r.status_code == 200, f"{reference}: HTTP {r.status_code}"
        data: Json = r.json()
        return data

    def count(self, resource_type: str, **params: str) -> int:
        r = self.session.get(
            f"{self.base}/{resource_type}", params={**params, "_summary": "count"}, timeout=TIMEOUT
        )
        assert r.status_code == 200, r.text[:1000]
        total: int = r.json()["total"]
        return total

    def patient(self, system: str, value: str) -> str:
        return self.create(
            {"resourceType": "Patient", "identifier": [{"system": system, "value": value}]}
        )

    def imaging_study(self, study_uid: str, subject: str) -> str:
        return self.create(
            {
                "resourceType": "ImagingStudy",
                "status": "available",
                "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}],
                "subject": {"reference": subject},
            }
        )

    def service_request(self, system: str, accession: str, subject: str) -> str:
        return self.create(
            {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "identifier": [{"system": system, "value": accession}],
                "subject": {"reference": subject},
            }
        )


class TcpProxy:
    """127.0.0.1:<port> -> the FHIR server; `stop()` is an outage, `start()` the recovery."""

    def __init__(self, target_base: str) -> None:
        parsed = urlparse(target_base)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.path = parsed.path
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
