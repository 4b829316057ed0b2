"""A report's life through the worker and the outbox sink, on both job stores: revisions in and
out of order, with and without Observation UIDs; rejection notes before and after their SR,
for an unknown SR; a KOS that is not a rejection note. Plus the status table and the ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset

from sr2fhir.delivery.outbox import OutboxSink
from sr2fhir.lifecycle.bundles import revise
from sr2fhir.mapping import MappingOptions, convert_dataset
from sr2fhir.mapping.ids import resource_id
from sr2fhir.mapping.status import document_status, revised_status
from sr2fhir.spool import JobStatus, LifecycleDecision, LifecycleView, Spool, read_instance_info
from sr2fhir.worker import NOT_A_REJECTION, Worker
from tests.support.in_process import worker
from tests.support.sr.documents import DocumentFlags
from tests.support.sr.lifecycle import (
    OF_INTEREST,
    REJECTED_FOR_PATIENT_SAFETY,
    key_object_selection,
    revision,
)
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import no_observation_uid_report, planar_report


def send(spool: Spool, run: Worker, ds: Dataset) -> tuple[JobStatus, str]:
    """Receive one instance and work the queue empty; its job's state and outcome line."""
    data = to_bytes(ds)
    job_id = spool.receive(data, read_instance_info(data))
    while run.run_once():
        pass
    job = spool.get(job_id)
    assert job is not None
    return job.status, job.last_error or ""


def outbox(folder: Path, ds: Dataset) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((folder / f"{ds.SOPInstanceUID}.json").read_text())
    return bundle


def by_key(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["request"]["url"]: e.get("resource", {}) for e in bundle["entry"]}


def observations(ds: Dataset) -> set[str]:
    return {k for k in by_key(convert_dataset(ds)) if k.startswith("Observation/")}


@pytest.fixture
def flow(any_spool: Spool, tmp_path: Path) -> tuple[Spool, Worker, Path]:
    folder = tmp_path / "outbox"
    return any_spool, worker(any_spool, OutboxSink(folder)), folder


def test_preliminary_then_final_updates_in_place_and_retires_what_is_not_carried(
    flow: tuple[Spool, Worker, Path],
) -> None:
    spool, run, folder = flow
    first = revision(planar_report(), "prelim", [], preliminary="PRELIMINARY")
    final = revision(first, "final", [first], keep_groups=1)
    assert send(spool, run, first)[0] is JobStatus.DONE
    assert send(spool, run, final)[0] is JobStatus.DONE
    entries = by_key(outbox(folder, final))
    kept, dropped = observations(final), observations(first) - observations(final)
    assert kept < observations(first) and dropped  # same ids for what is carried forward
    assert {entries[k]["status"] for k in kept} == {"final"}  # preliminary -> final
    assert {entries[k]["status"] for k in dropped} == {"entered-in-error"}
    retired = [k for k in entries if k.startswith(("ImagingSelection/", "BodyStructure/"))]
    assert any(entries[k].get("status") == "entered-in-error" for k in retired)
    assert any(entries[k].get("active") is False for k in retired)
    provenance = entries[f"Provenance/{resource_id(str(final.SOPInstanceUID), 'Provenance')}"]
    roles = {(e["role"], e["what"].get("reference")) for e in provenance["entity"]}
    assert ("revision", None) in roles  # the predecessor SR instance
    assert {r for _, r in roles} >= dropped


def test_a_third_revision_amends_what_was_final(flow: tuple[Spool, Worker, Path]) -> None:
    spool, run, folder = flow
    first = revision(planar_report(), "r1", [], preliminary="PRELIMINARY")
    second = revision(first, "r2", [first])
    third = revision(second, "r3", [second, first], keep_groups=1)
    for ds in (first, second, third):
        assert send(spool, run, ds)[0] is JobStatus.DONE
    entries = by_key(outbox(folder, third))
    assert {entries[k]["status"] for k in observations(third)} == {"amended"}
    dropped = observations(second) - observations(third)
    assert {entries[k]["status"] for k in dropped} == {"entered-in-error"}


def test_a_final_without_observation_uids_retires_every_earlier_observation(
    flow: tuple[Spool, Worker, Path],
) -> None:
    spool, run, folder = flow
    first = revision(no_observation_uid_report(), "a", [], preliminary="PRELIMINARY")
    final = revision(first, "b", [first])
    send(spool, run, first)
    send(spool, run, final)
    entries = by_key(outbox(folder, final))
    assert not observations(first) & observations(final)  # ids by SOP Instance UID + path
    assert {entries[k]["status"] for k in observations(first)} == {"entered-in-error"}
    assert {entries[k]["status"] for k in observations(final)} == {"final"}


def test_a_predecessor_after_its_successor_is_recorded_and_not_delivered(
    flow: tuple[Spool, Worker, Path],
) -> None:
    spool, run, folder = flow
    first = planar_report()
    final = revision(first, "final", [first])
    assert send(spool, run, final)[0] is JobStatus.DONE
    status, outcome = send(spool, run, first)
    assert status is JobStatus.DONE
    assert outcome == f"not delivered: superseded by {final.SOPInstanceUID}"
    assert not (folder / f"{first.SOPInstanceUID}.json").exists()


def test_a_rejection_note_after_its_sr_retires_everything_it_produced(
    flow: tuple[Spool, Worker, Path],
) -> None:
    spool, run, folder = flow
    report = planar_report()
    kos = key_object_selection("safety", REJECTED_FOR_PATIENT_SAFETY, [report])
    send(spool, run, report)
    status, outcome = send(spool, run, kos)
    assert status is JobStatus.DONE and "1 delivered" in outcome
    entries = by_key(outbox(folder, kos))
    assert set(entries) >= observations(report)
    assert {entries[k]["status"] for k in observations(report)} == {"entered-in-error"}


def test_a_rejection_note_before_its_sr_is_remembered(flow: tuple[Spool, Worker, Path]) -> None:
    spool, run, folder = flow
    report = planar_report()
    kos = key_object_selection("early", REJECTED_FOR_PATIENT_SAFETY, [report])
    status, outcome = send(spool, run, kos)
    assert status is JobStatus.DONE and "1 not delivered (remembered)" in outcome
    status, outcome = send(spool, run, report)
    assert status is JobStatus.DONE
    assert outcome == (
        f"not delivered: rejected by {kos.SOPInstanceUID} (DCM 113037) before it arrived"
    )
    assert not (folder / f"{report.SOPInstanceUID}.json").exists()


def test_other_key_object_selections_are_stored_and_ignored(
    flow: tuple[Spool, Worker, Path],
) -> None:
    spool, run, _ = flow
    report = planar_report()
    assert send(spool, run, key_object_selection("other", OF_INTEREST, [report])) == (
        JobStatus.DONE,
        NOT_A_REJECTION,
    )
    unknown = key_object_selection("unknown", REJECTED_FOR_PATIENT_SAFETY, [report])
    status, outcome = send(spool, run, unknown)  # an SR the gateway never saw
    assert status is JobStatus.DONE and "0 delivered" in outcome


@pytest.mark.parametrize(
    ("completion", "verification", "preliminary", "status"),
    [
        ("PARTIAL", "UNVERIFIED", None, "preliminary"),
        ("PARTIAL", "VERIFIED", "FINAL", "preliminary"),
        ("COMPLETE", "UNVERIFIED", "PRELIMINARY", "preliminary"),
        ("COMPLETE", "VERIFIED", "PRELIMINARY", "preliminary"),
        ("COMPLETE", "UNVERIFIED", "FINAL", "final"),
        ("COMPLETE", "VERIFIED", "FINAL", "final"),
        ("COMPLETE", "VERIFIED", None, "final"),
    ],
)
def test_the_status_table(
    completion: str, verification: str, preliminary: str | None, status: str
) -> None:
    from sr2fhir.mapping.document import parse_document_header
    from tests.support.sr.documents import document
    from tests.support.sr.templates import measurement_report, planar_groups

    flags = DocumentFlags(completion, verification, preliminary)
    ds = document("status", measurement_report(planar_groups("status")), flags)
    assert document_status(parse_document_header(ds)) == status


@pytest.mark.parametrize(
    ("own", "earlier", "released", "status"),
    [
        ("final", None, False, "final"),  # new in this revision
        ("final", "preliminary", False, "final"),
        ("final", "final", True, "amended"),
        ("preliminary", "final", True, "amended"),  # no way back from final
        ("final", "entered-in-error", True, "amended"),  # released once, withdrawn, back
        ("final", "amended", True, "amended"),
    ],
)
def test_revised_status(own: str, earlier: str | None, released: bool, status: str) -> None:
    assert revised_status(own, earlier, released) == status


def test_an_observation_uid_keys_the_id_across_documents_and_items_without_one_do_not() -> None:
    first = planar_report()
    copy_of = revision(first, "copy", [])
    assert observations(first) == observations(copy_of)
    bare = no_observation_uid_report()
    assert observations(bare).isdisjoint(observations(revision(bare, "copy", [])))


def test_a_revision_leaves_the_conditional_imaging_study_alone() -> None:
    """fhir.imaging_study create-if-missing: the Bundle's ImagingStudy has no id (the server
    names it); revising the Bundle must neither need one nor change that entry."""
    options = MappingOptions(create_imaging_study=True)
    bundle = convert_dataset(planar_report(), options)
    study = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy")
    assert "id" not in study["resource"]
    revised = revise(bundle, LifecycleView(LifecycleDecision.DELIVER))
    assert study in revised.bundle["entry"]


def test_a_lifecycle_bug_fails_the_job_and_leaves_the_worker_running(
    flow: tuple[Spool, Worker, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the revision step used to kill the worker process at every claim (a crash
    loop); now that job is FAILED with its bytes kept for `queue retry`, and the next runs."""
    spool, run, _ = flow

    def broken(*args: object) -> None:
        raise KeyError("id")

    monkeypatch.setattr("sr2fhir.worker.revise", broken)
    status, line = send(spool, run, planar_report())
    assert (status, line) == (JobStatus.FAILED, "internal lifecycle error: KeyError")
    failed = spool.list_jobs(JobStatus.FAILED, 10)[0]
    assert spool.read(failed)  # kept for `queue retry`
    monkeypatch.undo()
    assert send(spool, run, no_observation_uid_report())[0] is JobStatus.DONE
