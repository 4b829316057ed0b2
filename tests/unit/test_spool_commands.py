"""`sr2fhir queue ...` against a real spool."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.spool import InstanceInfo, JobStatus, Spool, open_spool

SR = "1.2.840.10008.5.1.4.1.1.88.33"


def filled_spool(data_dir: Path) -> tuple[int, int, int]:
    """One DONE, one FAILED (quarantined), one READY job."""
    spool = open_spool(data_dir)
    done, failed, ready = (
        spool.receive(b"DICM-ish", InstanceInfo(SR, f"1.2.3.{n}", "CT1")) for n in range(3)
    )
    for job_id, action in ((done, "finish"), (failed, "reject")):
        job = spool.jobs.claim("w")
        assert job is not None and job.id == job_id
        if action == "finish":
            spool.finish(job)
        else:
            spool.reject(job, "not a usable SR: no TID 1500 title")
    spool.close()
    return done, failed, ready


def queue(data_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["queue", "--data-dir", str(data_dir), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def reopen(data_dir: Path) -> Spool:
    return open_spool(data_dir)


def test_status_counts_jobs_per_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    filled_spool(tmp_path)
    code, out = queue(tmp_path, capsys, "status")
    assert code == 0
    assert out.split() == ["READY", "1", "LOCKED", "0", "DONE", "1", "FAILED", "1"]


def test_list_filters_by_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, failed, _ = filled_spool(tmp_path)
    code, out = queue(tmp_path, capsys, "list", "--state", "failed")
    rows = out.splitlines()[1:]
    assert code == 0 and len(rows) == 1
    assert rows[0].split()[:2] == [str(failed), "FAILED"] and "1.2.3.1" in rows[0]


def test_show_gives_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, failed, _ = filled_spool(tmp_path)
    code, out = queue(tmp_path, capsys, "show", str(failed))
    assert code == 0
    assert "last_error:       not a usable SR: no TID 1500 title" in out
    assert "calling_ae:       CT1" in out
    assert queue(tmp_path, capsys, "show", "999")[0] == 1


def test_show_prints_the_fhir_servers_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = open_spool(tmp_path)
    job_id = spool.receive(b"DICM-ish", InstanceInfo(SR, "1.2.3.9", "CT1"))
    job = spool.jobs.claim("w")
    assert job is not None
    outcome = '{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "HAPI-0450"}]}'
    spool.give_up(job, "delivery refused: transaction: HTTP 400", outcome)
    spool.close()
    code, out = queue(tmp_path, capsys, "show", str(job_id))
    assert code == 0
    assert "outcome (the FHIR server's OperationOutcome):" in out and "HAPI-0450" in out


def test_an_old_job_database_gains_the_outcome_column(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "old.sqlite3")
    db.executescript(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL,"
        " sop_class_uid TEXT NOT NULL, sop_instance_uid TEXT NOT NULL, calling_ae TEXT NOT NULL,"
        " file_key TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at REAL NOT NULL, last_error TEXT, locked_by TEXT, locked_at REAL,"
        " received_at REAL NOT NULL, updated_at REAL NOT NULL);"
    )
    db.close()
    from sr2fhir.spool.sqlite_jobs import SqliteJobStore

    store = SqliteJobStore(tmp_path / "old.sqlite3")
    store.enqueue(InstanceInfo(SR, "1.2.3.10", "CT1"), "files/x")
    job = store.claim("w")
    assert job is not None
    store.mark_failed(job.id, "refused", outcome="{}")
    failed = store.get(job.id)
    assert failed is not None and failed.outcome == "{}"
    store.close()


def test_retry_runs_a_failed_job_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done, failed, _ = filled_spool(tmp_path)
    assert queue(tmp_path, capsys, "retry", str(done))[0] == 1  # only FAILED jobs
    code, out = queue(tmp_path, capsys, "retry", str(failed))
    assert code == 0 and f"job {failed} queued again" in out
    spool = reopen(tmp_path)
    job = spool.jobs.get(failed)
    assert job is not None and job.status is JobStatus.READY and job.attempts == 0
    assert spool.read(job) == b"DICM-ish"  # back from the quarantine
    spool.close()


def test_retry_failed_requeues_every_failed_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled_spool(tmp_path)
    code, out = queue(tmp_path, capsys, "retry", "--failed")
    assert code == 0 and "1 job(s) queued again" in out
    spool = reopen(tmp_path)
    assert spool.jobs.counts()[JobStatus.FAILED] == 0
    spool.close()


def test_purge_forgets_old_done_jobs_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled_spool(tmp_path)
    assert queue(tmp_path, capsys, "purge", "--done-older-than", "1")[1].startswith("0 DONE")
    code, out = queue(tmp_path, capsys, "purge", "--done-older-than", "0")
    assert code == 0 and out.startswith("1 DONE job(s) purged")
    spool = reopen(tmp_path)
    assert spool.jobs.counts() == {
        JobStatus.READY: 1,
        JobStatus.LOCKED: 0,
        JobStatus.DONE: 0,
        JobStatus.FAILED: 1,
    }
    spool.close()
