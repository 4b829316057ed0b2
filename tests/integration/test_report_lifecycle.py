"""A report's life against HAPI FHIR R5 and the outbox, through `sr2fhir serve` with a restart
in the middle of each flow: revisions (with and without Observation UIDs, out of order, three
in a row) and IHE IOCM rejection notes (after and before the SR, unknown SR, other KOS)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydicom import Dataset

from sr2fhir.mapping.ids import resource_id
from tests.integration.fhir_peer import FAST_RETRIES, FhirServer, fhir_base, unique_report
from tests.support.dcmtk import storescu
from tests.support.processes import wait_until
from tests.support.serve import GatewayProcess, outbox_uids, running_gateway
from tests.support.sr.identity import PATIENT_ID_ISSUER_URI
from tests.support.sr.lifecycle import (
    OF_INTEREST,
    REJECTED_FOR_PATIENT_SAFETY,
    key_object_selection,
    revision,
    with_fresh_observation_uids,
)
from tests.support.sr.part10 import write_datasets
from tests.support.sr.reports import no_observation_uid_report, planar_report

pytestmark = pytest.mark.integration
CURRENT = {"status:not": "entered-in-error"}


@pytest.fixture(scope="module")
def server() -> FhirServer:
    return FhirServer(fhir_base())


def _send(gateway: GatewayProcess, folder: Path, *datasets: Dataset) -> None:
    sent = storescu(gateway.port, write_datasets(folder, list(datasets)))
    assert sent.returncode == 0, sent.stderr


def _done(gateway: GatewayProcess, count: int) -> None:
    def finished() -> bool:
        counts = gateway.job_counts()
        assert counts["FAILED"] == 0, gateway.log_text()[-3000:]
        return counts["DONE"] >= count

    wait_until(finished, 240, f"{count} jobs done", every=0.5)


def _chain(server: FhirServer) -> tuple[Dataset, str]:
    """A report for a fresh Patient and study, with Observation UIDs of its own."""
    patient_id = f"PHI-LIFE-{uuid.uuid4().hex[:12]}"
    subject = server.patient(PATIENT_ID_ISSUER_URI, patient_id)
    base = unique_report(planar_report, patient_id, f"2.25.{uuid.uuid4().int}")
    return with_fresh_observation_uids(base, uuid.uuid4().hex), subject


def _fhir() -> dict[str, str]:
    return {"SR2FHIR_DELIVERY_SINK": "fhir", "SR2FHIR_FHIR_BASE_URL": fhir_base(), **FAST_RETRIES}


def test_preliminary_final_amended_on_hapi_across_a_restart(
    server: FhirServer, tmp_path: Path
) -> None:
    base, subject = _chain(server)
    first = revision(base, "r1", [], preliminary="PRELIMINARY")
    second = revision(first, "r2", [first])
    third = revision(second, "r3", [second], keep_groups=1)
    data, env = tmp_path / "data", _fhir()
    with running_gateway(data, env=env) as gateway:
        _send(gateway, tmp_path / "1", first)
        _done(gateway, 1)
    all_observations = server.count("Observation", subject=subject)
    with running_gateway(data, env=env) as gateway:  # the chain survives the restart
        _send(gateway, tmp_path / "2", second)
        _done(gateway, 2)
        assert server.count("Observation", subject=subject) == all_observations  # in place
        group = _group(server, second)
        assert group["status"] == "final" and group["meta"]["versionId"] == "2"
        _send(gateway, tmp_path / "3", third)
        _done(gateway, 3)
    group = _group(server, third)
    assert group["status"] == "amended" and group["meta"]["versionId"] == "3"
    current = server.count("Observation", subject=subject, **CURRENT)
    assert 0 < current < all_observations  # the dropped group is no longer current
    assert server.count("Observation", subject=subject) == all_observations
    assert server.count("Observation", subject=subject, status="entered-in-error") == (
        all_observations - current
    )
    provenance = server.read(f"Provenance/{resource_id(str(third.SOPInstanceUID), 'Provenance')}")
    assert {e["role"] for e in provenance["entity"]} == {"revision"}


def test_a_final_without_observation_uids_replaces_the_preliminary_on_hapi(
    server: FhirServer, tmp_path: Path
) -> None:
    patient_id = f"PHI-LIFE-{uuid.uuid4().hex[:12]}"
    subject = server.patient(PATIENT_ID_ISSUER_URI, patient_id)
    base = unique_report(no_observation_uid_report, patient_id, f"2.25.{uuid.uuid4().int}")
    first = revision(base, "a", [], preliminary="PRELIMINARY")
    final = revision(first, "b", [first])
    data, env = tmp_path / "data", _fhir()
    with running_gateway(data, env=env) as gateway:
        _send(gateway, tmp_path / "1", first)
        _done(gateway, 1)
    per_report = server.count("Observation", subject=subject)
    with running_gateway(data, env=env) as gateway:
        _send(gateway, tmp_path / "2", final)
        _done(gateway, 2)
    assert server.count("Observation", subject=subject) == 2 * per_report
    assert server.count("Observation", subject=subject, **CURRENT) == per_report


def test_a_rejection_note_after_the_sr_retires_it_on_hapi(
    server: FhirServer, tmp_path: Path
) -> None:
    report, subject = _chain(server)
    kos = key_object_selection("safety", REJECTED_FOR_PATIENT_SAFETY, [report])
    data, env = tmp_path / "data", _fhir()
    with running_gateway(data, env=env) as gateway:
        _send(gateway, tmp_path / "1", report)
        _done(gateway, 1)
    assert server.count("Observation", subject=subject, **CURRENT) > 0
    with running_gateway(data, env=env) as gateway:
        _send(gateway, tmp_path / "2", kos)
        _done(gateway, 2)
    assert server.count("Observation", subject=subject, **CURRENT) == 0
    assert server.count("ImagingSelection", subject=subject, **CURRENT) == 0


def test_out_of_order_and_early_rejections_in_the_outbox_across_a_restart(
    tmp_path: Path,
) -> None:
    first = planar_report()
    final = revision(first, "final", [first])
    rejected = revision(first, "rejected", [])
    early = key_object_selection("early", REJECTED_FOR_PATIENT_SAFETY, [rejected])
    other = key_object_selection("other", OF_INTEREST, [first])
    unknown = key_object_selection("unknown", REJECTED_FOR_PATIENT_SAFETY, [first])
    data = tmp_path / "data"
    with running_gateway(data) as gateway:
        _send(gateway, tmp_path / "1", final, early)
        _done(gateway, 2)
    with running_gateway(data) as gateway:
        _send(gateway, tmp_path / "2", first, rejected, other)
        _done(gateway, 5)
        gateway.wait_for_log(rf"DONE: .*not delivered: superseded by {final.SOPInstanceUID}")
        gateway.wait_for_log(rf"DONE: .*not delivered: rejected by {early.SOPInstanceUID}")
        gateway.wait_for_log(r"DONE: .*key object selection, not a rejection note")
        _send(gateway, tmp_path / "3", unknown)  # rejects `first`, never delivered: recorded
        _done(gateway, 6)
        delivered = outbox_uids(gateway.outbox)
    assert str(final.SOPInstanceUID) in delivered
    assert {str(first.SOPInstanceUID), str(rejected.SOPInstanceUID)}.isdisjoint(delivered)


def _group(server: FhirServer, ds: Dataset) -> dict[str, object]:
    """The first measurement group's Observation (its id is its Observation UID's)."""
    uid = str(ds.ContentSequence[-1].ContentSequence[0].ObservationUID)
    return server.read(f"Observation/{resource_id('observation-uid', uid, 'Observation', '')}")
