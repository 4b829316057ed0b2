"""`sr2fhir queue ...` against a real spool of each back end."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.config import Config
from sr2fhir.spool import InstanceInfo, JobStatus, LifecycleUpdate, Spool, SpoolRole
from tests.support.postgres import open_for, write_config

SR = "1.2.840.10008.5.1.4.1.1.88.33"


def filled_spool(config: Config) -> tuple[int, int, int]:
    """One DONE, one FAILED (quarantined), one READY job."""
    spool = open_for(config)
    done, failed, ready = (
        spool.receive(b"DICM-ish", InstanceInfo(SR, f"1.2.3.{n}", "CT1")) for n in range(3)
    )
    for job_id, action in ((done, "finish"), (failed, "reject")):
        job = spool.claim("node:1/w")
        assert job is not None and job.id == job_id
        if action == "finish":
            spool.finish_report(job, LifecycleUpdate(job.sop_instance_uid))
        else:
            spool.reject(job, "not a usable SR: no TID 1500 title")
    spool.close()
    return done, failed, ready


def queue(config: Config, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    path = write_config(config.spool.path.parent / "sr2fhir.yaml", config)
    code = main(["queue", "--config", str(path), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def reopen(config: Config) -> Spool:
    return open_for(config, SpoolRole.READER)


def test_status_counts_jobs_per_state(
    spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    filled_spool(spool_config)
    code, out = queue(spool_config, capsys, "status")
    assert code == 0
    assert out.split() == ["READY", "1", "LOCKED", "0", "DONE", "1", "FAILED", "1", "HELD", "0"]


def test_list_filters_by_state(spool_config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    _, failed, _ = filled_spool(spool_config)
    code, out = queue(spool_config, capsys, "list", "--state", "failed")
    rows = out.splitlines()[1:]
    assert code == 0 and len(rows) == 1
    assert rows[0].split()[:2] == [str(failed), "FAILED"] and "1.2.3.1" in rows[0]


def test_show_gives_the_error(spool_config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    _, failed, _ = filled_spool(spool_config)
    code, out = queue(spool_config, capsys, "show", str(failed))
    assert code == 0
    assert "last_error:       not a usable SR: no TID 1500 title" in out
    assert "calling_ae:       CT1" in out
    assert queue(spool_config, capsys, "show", "999")[0] == 1


def test_show_prints_the_fhir_servers_outcome(
    spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = open_for(spool_config)
    job_id = spool.receive(b"DICM-ish", InstanceInfo(SR, "1.2.3.9", "CT1"))
    job = spool.claim("node:1/w")
    assert job is not None
    outcome = '{"resourceType": "OperationOutcome", "issue": [{"diagnostics": "HAPI-0450"}]}'
    spool.give_up(job, "delivery refused: transaction: HTTP 400", outcome)
    spool.close()
    code, out = queue(spool_config, capsys, "show", str(job_id))
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
    store.mark_failed(job.id, "w", "refused", outcome="{}")
    failed = store.get(job.id)
    assert failed is not None and failed.outcome == "{}"
    store.close()


def test_retry_runs_a_failed_job_again(
    spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    done, failed, _ = filled_spool(spool_config)
    assert queue(spool_config, capsys, "retry", str(done))[0] == 1  # only FAILED jobs
    code, out = queue(spool_config, capsys, "retry", str(failed))
    assert code == 0 and f"job {failed} queued again" in out
    spool = reopen(spool_config)
    job = spool.get(failed)
    assert job is not None and job.status is JobStatus.READY and job.attempts == 0
    assert spool.read(job) == b"DICM-ish"  # back from the quarantine
    spool.close()


def test_retry_failed_requeues_every_failed_job(
    spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    filled_spool(spool_config)
    code, out = queue(spool_config, capsys, "retry", "--failed")
    assert code == 0 and "1 job(s) queued again" in out
    spool = reopen(spool_config)
    assert spool.counts()[JobStatus.FAILED] == 0
    spool.close()


def test_purge_forgets_old_done_jobs_only(
    spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    filled_spool(spool_config)
    assert queue(spool_config, capsys, "purge", "--done-older-than", "1")[1].startswith("0 DONE")
    code, out = queue(spool_config, capsys, "purge", "--done-older-than", "0")
    assert code == 0 and out.startswith("1 DONE job(s) purged")
    spool = reopen(spool_config)
    assert spool.counts() == {
        JobStatus.READY: 1,
        JobStatus.LOCKED: 0,
        JobStatus.DONE: 0,
        JobStatus.FAILED: 1,
        JobStatus.HELD: 0,
    }
    spool.close()


def test_status_and_list_show_which_node_holds_which_job(
    spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = open_for(spool_config)
    first, second = (
        spool.receive(b"DICM-ish", InstanceInfo(SR, f"1.2.4.{n}", "CT1")) for n in range(2)
    )
    assert spool.claim("node-a:11/w0.1") is not None
    assert spool.claim("node-b:22/w1.3") is not None
    spool.close()
    code, out = queue(spool_config, capsys, "status")
    assert code == 0
    assert out.splitlines()[-2:] == ["LOCKED by node-a:11 1", "LOCKED by node-b:22 1"]
    code, out = queue(spool_config, capsys, "list", "--state", "LOCKED")
    header, *rows = out.splitlines()
    assert header.split()[-2:] == ["LOCKED", "BY"]
    assert [row.split()[0] for row in rows] == [str(first), str(second)]
    assert [row.split()[-1] for row in rows] == ["node-a:11/w0.1", "node-b:22/w1.3"]
