"""Each job keeps its mapping warnings, its header facts and one record per attempt (issue 15
point 4, issue 16's queue API), on both job stores; the outbox keeps the warnings beside the
Bundle."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import Config
from sr2fhir.delivery import OutboxSink, Receipt
from sr2fhir.delivery.retry import RetryPolicy
from sr2fhir.errors import PermanentDeliveryError, TransientDeliveryError
from sr2fhir.mapping import MappingOptions
from sr2fhir.spool import InstanceInfo, JobFilter, JobStatus, Spool, SpoolRole
from sr2fhir.spool.sqlite_jobs import SCHEMA, SCHEMA_VERSION, SqliteJobStore
from sr2fhir.worker import Worker, make_converter
from tests.support.fake_sinks import ScriptedSink
from tests.support.postgres import make_due, open_for
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import planar_report, units_report

OUTCOME: dict[str, object] = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "processing", "diagnostics": "busy"}],
}
LOCATIONS = ("Observation/a/_history/1", "ImagingSelection/b/_history/1")


def receive(spool: Spool, ds: Any) -> int:
    info = InstanceInfo(str(ds.SOPClassUID), str(ds.SOPInstanceUID), "CT1")
    return spool.receive(to_bytes(ds), info)


def no_wait() -> RetryPolicy:
    return RetryPolicy(max_attempts=5, initial=0.0, cap=0.0)


def test_a_delivered_job_keeps_its_warnings_header_and_attempt(
    any_spool: Spool, tmp_path: Path
) -> None:
    job_id = receive(any_spool, units_report())
    sink = ScriptedSink(Receipt("server", 200, LOCATIONS))
    worker = Worker(any_spool, make_converter(MappingOptions()), sink, "n1:1/w0.1")
    assert worker.run_once()
    job = any_spool.get(job_id)
    assert job is not None and job.status is JobStatus.DONE
    warnings = json.loads(job.warnings or "null")
    assert [w["code"] for w in warnings] == ["unit-corrected", "invalid-ucum-unit"]
    header = json.loads(job.header or "null")
    assert header["study_instance_uid"] == str(units_report().StudyInstanceUID)
    assert header["patient_id"] == str(units_report().PatientID)
    (attempt,) = any_spool.attempts(job_id)
    assert (attempt.node, attempt.http_status, attempt.error) == ("n1:1", 200, None)
    assert attempt.locations == LOCATIONS and attempt.outcome is None


def test_every_attempt_is_recorded_with_status_outcome_and_error(
    any_spool: Spool, spool_config: Config
) -> None:
    job_id = receive(any_spool, planar_report())
    sink = ScriptedSink(
        TransientDeliveryError("transaction: HTTP 503 (error: busy)", None, 503, OUTCOME),
        PermanentDeliveryError("transaction: HTTP 422", OUTCOME, 422),
    )
    worker = Worker(
        any_spool,
        make_converter(MappingOptions()),
        sink,
        "n1:1/w0.1",
        no_wait(),
    )
    assert worker.run_once()
    make_due(spool_config, job_id)
    assert worker.run_once()
    job = any_spool.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    first, second = any_spool.attempts(job_id)
    assert (first.http_status, second.http_status) == (503, 422)
    assert first.error == "transaction: HTTP 503 (error: busy)"
    assert second.error == "delivery refused: transaction: HTTP 422"
    assert json.loads(first.outcome or "{}") == OUTCOME == json.loads(second.outcome or "{}")
    assert first.at <= second.at and first.locations == ()
    assert json.loads(job.warnings or "null") == []


def test_a_rejected_report_records_its_reason_as_the_attempt(any_spool: Spool) -> None:
    info = InstanceInfo("1.2.840.10008.5.1.4.1.1.88.33", "1.2.3.4", "CT2")
    job_id = any_spool.receive(b"not dicom at all", info)
    worker = Worker(any_spool, make_converter(MappingOptions()), ScriptedSink(), "n1:1/w0.1")
    assert worker.run_once()
    (attempt,) = any_spool.attempts(job_id)
    assert attempt.error is not None and attempt.error.startswith("not a usable SR")
    assert attempt.http_status is None


def test_a_new_version_forgets_the_old_warnings(any_spool: Spool, spool_config: Config) -> None:
    ds = units_report()
    job_id = receive(any_spool, ds)
    sink = ScriptedSink(TransientDeliveryError("down"))
    Worker(any_spool, make_converter(MappingOptions()), sink, "n1:1/w0.1", no_wait()).run_once()
    job = any_spool.get(job_id)
    assert job is not None and job.status is JobStatus.READY and job.warnings
    assert receive(any_spool, ds) == job_id  # the READY job takes the new version
    job = any_spool.get(job_id)
    assert job is not None and job.warnings is None and job.header is None
    assert len(any_spool.attempts(job_id)) == 1  # the history stays


def test_find_jobs_filters_pages_and_counts(any_spool: Spool) -> None:
    ids = [
        any_spool.receive(b"x", InstanceInfo("1.2", f"1.2.3.{n}", "CT1" if n % 2 else "MR1"))
        for n in range(5)
    ]
    jobs, total = any_spool.find_jobs(JobFilter(limit=2))
    assert [j.id for j in jobs] == ids[:2:-1][:2] and total == 5  # newest first
    jobs, total = any_spool.find_jobs(JobFilter(limit=2, before_id=jobs[-1].id))
    assert [j.id for j in jobs] == [ids[2], ids[1]] and total == 5
    jobs, total = any_spool.find_jobs(JobFilter(calling_ae="MR1"))
    assert sorted(j.id for j in jobs) == [ids[0], ids[2], ids[4]] and total == 3
    jobs, _ = any_spool.find_jobs(JobFilter(q="1.2.3.3"))
    assert [j.id for j in jobs] == [ids[3]]
    jobs, _ = any_spool.find_jobs(JobFilter(q=str(ids[1])))
    assert ids[1] in [j.id for j in jobs]
    jobs, total = any_spool.find_jobs(JobFilter(state=JobStatus.DONE))
    assert (jobs, total) == ([], 0)
    assert any_spool.find_jobs(JobFilter(q="1.2.3.%"))[1] == 0  # a LIKE wildcard is text


def test_patient_id_is_matched_only_when_phi_is_allowed(any_spool: Spool) -> None:
    ds = planar_report()
    job_id = receive(any_spool, ds)
    worker = Worker(
        any_spool, make_converter(MappingOptions()), ScriptedSink(Receipt("x")), "n:1/w"
    )
    assert worker.run_once()
    patient = str(ds.PatientID)
    assert any_spool.find_jobs(JobFilter(q=patient))[1] == 0
    jobs, total = any_spool.find_jobs(JobFilter(q=patient, phi=True))
    assert total == 1 and jobs[0].id == job_id
    study = str(ds.StudyInstanceUID)
    assert any_spool.find_jobs(JobFilter(q=study[:-2]))[0][0].id == job_id


def test_a_version_1_sqlite_job_table_is_upgraded_in_one_step(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute(
            "INSERT INTO jobs (status, sop_class_uid, sop_instance_uid, calling_ae, file_key,"
            " next_attempt_at, received_at, updated_at) VALUES ('FAILED', '1.2', '1.2.3', 'A',"
            " 'files/x.dcm', 0, 0, 0)"
        )
        db.execute("PRAGMA user_version = 1")
    store = SqliteJobStore(path)
    try:
        assert store.version == SCHEMA_VERSION >= 2
        job = store.get(1)
        assert job is not None and job.warnings is None and store.attempts(1) == []
        assert store.delete_failed(1) == "files/x.dcm"
    finally:
        store.close()


def test_the_outbox_writes_warnings_beside_the_bundle_and_drops_stale_ones(
    spool_config: Config, tmp_path: Path
) -> None:
    spool = open_for(spool_config, SpoolRole.GATEWAY)
    out = tmp_path / "out"
    try:
        ds = units_report()
        receive(spool, ds)
        worker = Worker(spool, make_converter(MappingOptions()), OutboxSink(out), "n:1/w")
        assert worker.run_once()
        uid = str(ds.SOPInstanceUID)
        document = json.loads((out / f"{uid}.warnings.json").read_text())
        assert document["sop_instance_uid"] == uid and len(document["warnings"]) == 2
        plain = planar_report()
        (out / f"{plain.SOPInstanceUID}.warnings.json").write_text("{}")  # an older version's
        receive(spool, plain)
        assert worker.run_once()
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [f"{uid}.json", f"{uid}.warnings.json", f"{plain.SOPInstanceUID}.json"]
        )
    finally:
        spool.close()


@pytest.mark.parametrize("state", [JobStatus.READY, JobStatus.DONE])
def test_only_failed_jobs_are_discarded(any_spool: Spool, state: JobStatus) -> None:
    job_id = receive(any_spool, planar_report())
    if state is JobStatus.DONE:
        Worker(
            any_spool, make_converter(MappingOptions()), ScriptedSink(Receipt("x")), "n:1/w"
        ).run_once()
    assert not any_spool.discard(job_id)
    assert any_spool.get(job_id) is not None


def test_a_discarded_failed_job_is_gone_with_its_history(any_spool: Spool) -> None:
    job_id = receive(any_spool, planar_report())
    sink = ScriptedSink(PermanentDeliveryError("transaction: HTTP 400", OUTCOME, 400))
    Worker(any_spool, make_converter(MappingOptions()), sink, "n:1/w").run_once()
    assert any_spool.discard(job_id)
    assert any_spool.get(job_id) is None and any_spool.attempts(job_id) == []
    assert not any_spool.discard(job_id)
    assert any_spool.recover().orphans_enqueued == 0  # its bytes do not come back


def test_discarding_keeps_the_bytes_in_the_quarantine_folder(tmp_path: Path) -> None:
    from sr2fhir.spool import open_spool

    spool = open_spool(tmp_path / "data")
    try:
        job_id = receive(spool, planar_report())
        sink = ScriptedSink(PermanentDeliveryError("transaction: HTTP 400", OUTCOME, 400))
        Worker(spool, make_converter(MappingOptions()), sink, "n:1/w").run_once()
        assert list((tmp_path / "data" / "files").iterdir())
        assert spool.discard(job_id)
        assert not list((tmp_path / "data" / "files").iterdir())
        assert len(list((tmp_path / "data" / "quarantine").iterdir())) == 1
    finally:
        spool.close()
