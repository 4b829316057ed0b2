"""The spool: durable receive, claim order, versions, retries, quarantine and recovery.

The tests taking `spool` run against both back ends (SQLite + folder, PostgreSQL); those
taking `folder_spool` check what only the folder back end has (files, SQLite pragmas)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from sr2fhir.config import Config
from sr2fhir.errors import LeaseLostError, SpoolError
from sr2fhir.spool import (
    FolderSize,
    JobStatus,
    LifecycleUpdate,
    RecoveryReport,
    Spool,
    SqliteSpool,
    open_spool,
    read_instance_info,
)
from sr2fhir.spool.sqlite_jobs import SqliteJobStore
from tests.support.postgres import make_due
from tests.support.sr.part10 import tiny_sr_bytes as part10
from tests.support.sr.part10 import tiny_sr_info as info


@pytest.fixture
def spool(any_spool: Spool) -> Spool:
    return any_spool


@pytest.fixture
def folder_spool(tmp_path: Path) -> Iterator[SqliteSpool]:
    opened = open_spool(tmp_path, db_timeout=0.2)
    yield opened
    opened.close()


def test_receive_stores_the_bytes_and_a_ready_job(spool: Spool) -> None:
    job_id = spool.receive(part10("1.2.3"), info("1.2.3"))
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.READY
    assert job.instance == info("1.2.3")
    assert job.size == len(part10("1.2.3"))
    assert spool.read(job) == part10("1.2.3")


def test_receive_leaves_no_temp_file(folder_spool: SqliteSpool, tmp_path: Path) -> None:
    folder_spool.receive(part10("1.2.3"), info("1.2.3"))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_database_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_claim_hands_each_job_to_one_worker_in_arrival_order(spool: Spool) -> None:
    first = spool.receive(part10("1.1"), info("1.1"))
    second = spool.receive(part10("1.2"), info("1.2"))
    claimed = [spool.claim("n/w1"), spool.claim("n/w2"), spool.claim("n/w3")]
    assert [j.id if j else None for j in claimed] == [first, second, None]
    assert claimed[0] is not None and claimed[0].status is JobStatus.LOCKED
    assert claimed[0].attempts == 1


def test_claims_from_many_threads_never_duplicate(spool: Spool) -> None:
    ids = {spool.receive(part10(f"2.{i}"), info(f"2.{i}")) for i in range(60)}
    got: list[int] = []

    def drain() -> None:
        while (job := spool.claim(f"n/{threading.current_thread().name}")) is not None:
            got.append(job.id)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == sorted(ids)


def test_new_version_replaces_a_ready_job_and_its_bytes(spool: Spool) -> None:
    first = spool.receive(part10("3.1", text="old"), info("3.1"))
    second = spool.receive(part10("3.1", text="new"), info("3.1", ae="OTHER"))
    assert first == second
    job = spool.get(first)
    assert job is not None and job.instance.calling_ae == "OTHER"
    assert spool.read(job) == part10("3.1", text="new")
    assert spool.sizes()["files"].files == 1


def test_new_version_of_a_delivered_instance_is_a_new_job(spool: Spool) -> None:
    first = spool.receive(part10("4.1"), info("4.1"))
    job = spool.claim("n/w")
    assert job is not None
    spool.finish_report(job, LifecycleUpdate(job.sop_instance_uid))
    second = spool.receive(part10("4.1", text="v2"), info("4.1"))
    assert second != first
    assert spool.counts()[JobStatus.READY] == 1


def test_versions_of_one_instance_are_never_worked_on_concurrently(spool: Spool) -> None:
    spool.receive(part10("5.1"), info("5.1"))
    locked = spool.claim("n/w1")
    newer = spool.receive(part10("5.1", text="v2"), info("5.1"))
    assert locked is not None and newer != locked.id
    assert spool.claim("n/w2") is None
    spool.finish_report(locked, LifecycleUpdate(locked.sop_instance_uid))
    claimed = spool.claim("n/w2")
    assert claimed is not None and claimed.id == newer


def test_retry_of_a_superseded_version_finishes_it_instead(spool: Spool) -> None:
    spool.receive(part10("6.1"), info("6.1"))
    locked = spool.claim("n/w1")
    assert locked is not None
    newer = spool.receive(part10("6.1", text="v2"), info("6.1"))
    updated = spool.retry_later(locked, "sink down", delay=60)
    assert updated.status is JobStatus.DONE
    assert updated.last_error == f"superseded by job {newer}"


def test_retry_later_delays_the_next_claim(spool: Spool) -> None:
    spool.receive(part10("7.1"), info("7.1"))
    job = spool.claim("n/w")
    assert job is not None
    updated = spool.retry_later(job, "sink down", delay=60)
    assert updated.status is JobStatus.READY and updated.last_error == "sink down"
    assert spool.claim("n/w") is None


def test_reject_quarantines_and_retry_brings_it_back(spool: Spool) -> None:
    job_id = spool.receive(part10("8.1"), info("8.1"))
    job = spool.claim("n/w")
    assert job is not None
    spool.reject(job, "not TID 1500")
    failed = spool.get(job_id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.last_error == "not TID 1500" and spool.is_quarantined(failed)
    assert spool.sizes()["quarantine"].files == 1 and spool.sizes()["files"].files == 0
    assert spool.retry(job_id)
    again = spool.claim("n/w")
    assert again is not None and again.id == job_id and again.attempts == 1
    assert not spool.is_quarantined(again)
    assert spool.read(again) == part10("8.1")


def test_purge_removes_only_old_done_jobs(spool: Spool) -> None:
    spool.receive(part10("9.1"), info("9.1"))
    spool.receive(part10("9.2"), info("9.2"))
    job = spool.claim("n/w")
    assert job is not None
    spool.finish_report(job, LifecycleUpdate(job.sop_instance_uid))
    assert spool.purge_done(older_than=0) == 0
    assert spool.purge_done(older_than=job.updated_at + 3600) == 1
    assert spool.counts() == {
        JobStatus.READY: 1,
        JobStatus.LOCKED: 0,
        JobStatus.DONE: 0,
        JobStatus.FAILED: 0,
        JobStatus.HELD: 0,
    }


def test_recovery_releases_locks_and_enqueues_orphan_files(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.receive(part10("10.1"), info("10.1"))
    assert spool.jobs.claim("dead-worker") is not None
    orphan_key = spool.files.put(part10("10.2", ae="CT1"), 1.0)  # crash before the row
    (tmp_path / "tmp" / "half-written").write_bytes(b"xx")
    spool.close()

    spool = open_spool(tmp_path)
    report = spool.recover()
    assert report.released == 1 and report.orphans_enqueued == 1 and report.temp_discarded == 1
    jobs = {j.sop_instance_uid: j for j in spool.jobs.list_jobs()}
    assert jobs["10.1"].status is JobStatus.READY
    assert jobs["10.2"].file_key == orphan_key and jobs["10.2"].instance.calling_ae == "CT1"
    assert spool.recover().orphans_enqueued == 0
    spool.close()


def test_recovery_drops_an_orphan_older_than_the_queued_version(
    folder_spool: SqliteSpool,
) -> None:
    spool = folder_spool
    stale = spool.files.put(part10("11.1", text="old"), 1.0)
    spool.receive(part10("11.1", text="new"), info("11.1"))
    report = spool.recover()
    assert report.orphans_superseded == 1
    assert stale not in set(spool.files.spooled_keys())


def test_receive_raises_spool_error_when_the_folder_is_gone(
    folder_spool: SqliteSpool, tmp_path: Path
) -> None:
    spool = folder_spool
    (tmp_path / "files").rmdir()
    (tmp_path / "files").write_bytes(b"")  # a file where the folder should be
    with pytest.raises(SpoolError, match="cannot write spool file"):
        spool.receive(part10("12.1"), info("12.1"))
    assert spool.counts()[JobStatus.READY] == 0


def test_receive_raises_spool_error_when_the_database_stays_locked(
    folder_spool: SqliteSpool, tmp_path: Path
) -> None:
    spool = folder_spool
    blocker = sqlite3.connect(tmp_path / "jobs.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(SpoolError, match=r"busy|locked"):
            spool.receive(part10("13.1"), info("13.1"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert list((tmp_path / "files").iterdir()) == []


def test_instance_info_comes_from_the_file_meta() -> None:
    assert read_instance_info(part10("14.1", ae="US2")) == info("14.1", ae="US2")
    with pytest.raises(ValueError, match="no readable file meta"):
        read_instance_info(b"\0" * 200)
    assert pydicom.__version__  # pydicom is what reads it


def test_a_file_moved_before_a_crash_is_still_found(folder_spool: SqliteSpool) -> None:
    spool = folder_spool
    job_id = spool.receive(part10("15.1"), info("15.1"))
    job = spool.get(job_id)
    assert job is not None
    moved = spool.files.quarantine(job.file_key)  # the row was not updated: crash here
    assert spool.read(job) == part10("15.1")
    assert spool.files.quarantine(job.file_key) == moved  # doing it again is no error
    spool.files.delete(job.file_key)
    assert list(spool.files.spooled_keys()) == []
    with pytest.raises(FileNotFoundError):
        spool.read(job)


def test_worker_connections_skip_the_fsync_per_commit(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3", durable=False)
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()


def test_only_locks_older_than_the_lease_are_released(folder_spool: SqliteSpool) -> None:
    spool = folder_spool
    spool.receive(part10("16.1"), info("16.1"))
    job = spool.jobs.claim("host:1/w0.1")
    assert job is not None
    assert spool.jobs.release_locked(older_than=job.updated_at - 300) == 0  # lease not over
    assert spool.jobs.release_locked("host:1/w1.") == 0  # another seat's prefix
    assert spool.jobs.release_locked(older_than=job.updated_at + 1) == 1
    again = spool.get(job.id)
    assert again is not None and again.status is JobStatus.READY and again.locked_by is None


def test_recovery_deletes_the_file_of_a_done_job_left_by_a_crash(
    folder_spool: SqliteSpool,
) -> None:
    spool = folder_spool
    spool.receive(part10("17.1"), info("17.1"))
    job = spool.claim("n/w")
    assert job is not None
    # DONE, then a crash before the file was deleted
    spool.jobs.finish_report(job.id, "n/w", LifecycleUpdate(job.sop_instance_uid))
    report = spool.recover()
    assert report.orphans_superseded == 1 and report.orphans_enqueued == 0
    assert list(spool.files.spooled_keys()) == []
    assert spool.counts()[JobStatus.READY] == 0


def test_recovery_keeps_a_failed_jobs_file_whose_restore_was_interrupted(
    folder_spool: SqliteSpool,
) -> None:
    spool = folder_spool
    spool.receive(part10("18.1"), info("18.1"))
    job = spool.claim("n/w")
    assert job is not None
    spool.reject(job, "bad")
    failed = spool.get(job.id)
    assert failed is not None
    spool.files.restore(failed.file_key)  # `queue retry` crashed before updating the row
    assert spool.recover() == RecoveryReport()  # nothing to do, nothing deleted
    assert spool.retry(job.id)
    again = spool.claim("n/w")
    assert again is not None and spool.read(again) == part10("18.1")


def test_the_spool_is_the_door_to_claims_releases_counts_and_sizes(spool: Spool) -> None:
    """What workers, the daemon and ops ask, asked of the Spool (never of its stores)."""
    first = spool.receive(part10("12.1"), info("12.1"))
    spool.receive(part10("12.2"), info("12.2"))
    sizes = spool.sizes()
    assert sizes["files"].files == 2 and (sizes["files"].bytes or 0) > 0
    assert sizes["quarantine"] == FolderSize(0, 0)
    claimed = spool.claim("host:1/w0.1")
    assert claimed is not None and claimed.id == first
    assert spool.tend_leases("host:1/") == 0  # within its lease
    assert spool.release_worker("host:1/w1.") == 0  # another seat
    assert spool.release_worker("host:1/w0.") == 1
    again = spool.claim("w")
    assert again is not None
    spool.reject(again, "not a usable SR")
    rejected = spool.get(again.id)
    assert rejected is not None and spool.is_quarantined(rejected)
    assert spool.counts()[JobStatus.FAILED] == 1
    assert [job.id for job in spool.list_jobs(JobStatus.FAILED)] == [again.id]
    assert spool.sizes()["quarantine"].files == 1
    assert spool.holders() == {}
    assert spool.shortage() is None


def test_the_folder_spool_tells_the_free_space_and_its_limit(folder_spool: SqliteSpool) -> None:
    free, limit = folder_spool.free_bytes()
    assert (free or 0) > 0 and limit == 0 and folder_spool.shortage() is None


def test_holders_name_the_node_of_each_locked_job(spool: Spool) -> None:
    for uid in ("20.1", "20.2", "20.3"):
        spool.receive(part10(uid), info(uid))
    assert spool.claim("a:1/w0.1") is not None and spool.claim("a:1/w1.1") is not None
    assert spool.claim("b:2/w0.1") is not None
    assert spool.holders() == {"a:1": 2, "b:2": 1}


def test_a_worker_that_lost_its_job_changes_nothing(spool: Spool) -> None:
    """Fencing: once the job went back to the queue and another worker holds it, every
    update the first one tries fails with LeaseLostError and leaves the job as it is."""
    spool.receive(part10("21.1"), info("21.1"))
    first = spool.claim("a:1/w0.1")
    assert first is not None
    assert spool.release_worker("a:1/") == 1  # e.g. its node's lease ran out
    second = spool.claim("b:2/w0.1")
    assert second is not None and second.id == first.id
    for update in (
        lambda: spool.finish_report(first, LifecycleUpdate(first.sop_instance_uid)),
        lambda: spool.give_up(first, "no"),
        lambda: spool.reject(first, "no"),
        lambda: spool.retry_later(first, "later", 60),
        lambda: spool.supersede_if_newer(first),
    ):
        with pytest.raises(LeaseLostError, match=f"job {first.id} is no longer held by a:1/w0.1"):
            update()
    spool.release(first)  # giving back what it no longer holds: nothing happens
    held = spool.get(first.id)
    assert held is not None and held.status is JobStatus.LOCKED
    assert held.locked_by == "b:2/w0.1"
    # the holder's update takes effect
    spool.finish_report(second, LifecycleUpdate(second.sop_instance_uid))
    done = spool.get(first.id)
    assert done is not None and done.status is JobStatus.DONE


def test_retry_later_makes_the_job_due_after_the_delay(spool: Spool, spool_config: Config) -> None:
    job_id = spool.receive(part10("22.1"), info("22.1"))
    job = spool.claim("n/w")
    assert job is not None
    spool.retry_later(job, "sink down", delay=3600)
    assert spool.claim("n/w") is None
    make_due(spool_config, job_id)
    again = spool.claim("n/w")
    assert again is not None and again.id == job_id and again.attempts == 2
