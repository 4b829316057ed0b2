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
