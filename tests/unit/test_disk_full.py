"""A full disk: every write fails into a DiskFullError (C-STORE 0xA700), a refused instance
leaves nothing behind, the workers give their job back and pause, and all of it works again
once there is room. SQLite's max_page_count, injected OSErrors and an injected free-space
probe stand in for the full disk here; tests/adversarial fills a real one."""

from __future__ import annotations

import errno
import logging
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sr2fhir import fsutil
from sr2fhir.daemon import Gateway
from sr2fhir.delivery import OutboxSink
from sr2fhir.errors import DiskFullError
from sr2fhir.mapping import MappingOptions
from sr2fhir.ops.health import check_spool
from sr2fhir.spool import InstanceInfo, JobStatus, LifecycleUpdate, Spool, SqliteSpool
from sr2fhir.spool.local_files import LocalFileStore
from sr2fhir.spool.space import SpaceGuard
from sr2fhir.spool.sqlite_jobs import SqliteJobStore
from sr2fhir.worker import Worker, make_converter
from tests.support.fake_sinks import ScriptedSink
from tests.support.in_process import gateway_config
from tests.support.processes import wait_until
from tests.support.sr.benchmark import benchmark_report_bytes
from tests.support.sr.identity import SOP_CLASSES
from tests.support.sr.part10 import from_bytes
from tests.support.sr.part10 import tiny_sr_bytes as part10
from tests.support.sr.part10 import tiny_sr_info as info

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def limit_growth(store: SqliteJobStore) -> None:
    """The job database may not grow by a page more: SQLite then says the disk is full."""
    db = store._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def lift_limit(store: SqliteJobStore) -> None:
    store._db.execute("PRAGMA max_page_count = 1000000")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteJobStore]:
    opened = SqliteJobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def spool(tmp_path: Path, store: SqliteJobStore) -> SqliteSpool:
    return SqliteSpool(store, LocalFileStore(tmp_path), SpaceGuard(tmp_path))


def receive_until_refused(spool: Spool, limit: int = 1000) -> tuple[list[int], DiskFullError]:
    """Receive distinct instances until the spool refuses one; (stored job ids, the refusal)."""
    stored = []
    for index in range(limit):
        try:
            stored.append(spool.receive(part10(f"2.25.{index}"), info(f"2.25.{index}")))
        except DiskFullError as refusal:
            return stored, refusal
    raise AssertionError(f"{limit} instances fitted: the limit did not bite")


def test_a_full_job_database_is_a_disk_full_error_and_works_again_with_room(
    store: SqliteJobStore,
) -> None:
    limit_growth(store)
    with pytest.raises(DiskFullError, match=r"jobs.sqlite3: database or disk is full"):
        for index in range(1000):
            store.enqueue(info(f"2.25.{index}"), f"files/{index}.dcm")
    before = store.counts()[JobStatus.READY]

    lift_limit(store)

    store.enqueue(info("2.25.after"), "files/after.dcm")
    assert store.counts()[JobStatus.READY] == before + 1
    assert store.claim("w") is not None


def test_an_instance_whose_row_cannot_be_committed_leaves_no_file(
    spool: Spool, store: SqliteJobStore
) -> None:
    limit_growth(store)
    stored, _ = receive_until_refused(spool)
    kept = set(spool.files.spooled_keys())
    assert kept == store.pending_file_keys() and len(kept) == len(stored)
    lift_limit(store)
    assert spool.recover().orphans_enqueued == 0  # nothing refused is delivered after a restart


def test_an_instance_whose_file_cannot_be_made_durable_leaves_nothing(
    spool: Spool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def folder_sync_fails(folder: Path) -> None:  # after the rename: the file is in files/
        raise ENOSPC

    monkeypatch.setattr(fsutil, "fsync_dir", folder_sync_fails)
    with pytest.raises(DiskFullError, match="cannot write spool file: No space left on device"):
        spool.receive(part10("2.25.1"), info("2.25.1"))
    assert list((tmp_path / "files").iterdir()) == list((tmp_path / "tmp").iterdir()) == []
    assert spool.jobs.counts()[JobStatus.READY] == 0


def test_the_workers_file_operations_fail_as_disk_full_errors(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool.receive(part10("2.25.1"), info("2.25.1"))
    job = spool.claim("n/w")
    assert job is not None

    def full(key: str) -> str:
        raise ENOSPC

    monkeypatch.setattr(spool.files, "quarantine", full)
    monkeypatch.setattr(spool.files, "delete", full)
    with pytest.raises(DiskFullError, match=r"^cannot quarantine files/.*: No space left"):
        spool.reject(job, "not a usable SR")
    with pytest.raises(DiskFullError, match=r"^cannot delete files/.*: No space left"):
        spool.finish_report(job, LifecycleUpdate(job.sop_instance_uid))


def test_below_min_free_bytes_instances_are_refused_until_there_is_room(
    spool: Spool, tmp_path: Path
) -> None:
    free = [999]
    spool.space = SpaceGuard(tmp_path, 1000, probe=lambda folder: free[0])
    message = f"data folder {tmp_path} has 999 bytes free, below spool.min_free_bytes (1000)"
    with pytest.raises(DiskFullError, match=re.escape(message)):
        spool.receive(part10("2.25.1"), info("2.25.1"))
    assert list(spool.files.spooled_keys()) == []

    free[0] = 1000

    assert spool.receive(part10("2.25.1"), info("2.25.1")) > 0


def test_no_limit_when_min_free_bytes_is_zero(tmp_path: Path) -> None:
    assert SpaceGuard(tmp_path, 0, probe=lambda folder: 0).shortage() is None


def test_the_readiness_check_says_why_the_spool_cannot_take_more(
    spool: Spool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert check_spool(spool).ok
    spool.space = SpaceGuard(tmp_path, 1000, probe=lambda folder: 10)
    check = check_spool(spool)
    assert not check.ok and check.detail == (
        f"data folder {tmp_path} has 10 bytes free, below spool.min_free_bytes (1000): "
        "C-STOREs are refused"
    )

    def full() -> None:
        raise ENOSPC

    spool.space = SpaceGuard(tmp_path)
    monkeypatch.setattr(spool.files, "probe", full)
    check = check_spool(spool)
    assert not check.ok
    assert check.detail == f"cannot write to the data folder {tmp_path}: No space left on device"


def test_a_full_outbox_is_a_disk_full_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(target: Path, data: bytes, **how: object) -> None:
        raise ENOSPC

    sink = OutboxSink(tmp_path / "outbox")
    monkeypatch.setattr("sr2fhir.delivery.outbox.write_atomically", no_room)
    with pytest.raises(DiskFullError, match=r"outbox .* full: No space left on device"):
        sink.deliver({"resourceType": "Bundle"}, InstanceInfo("1.2", "1.2.3", "AE"))


def full_once_sink(outbox: Path) -> ScriptedSink:
    """The outbox is full at the first delivery, then has room."""
    return ScriptedSink(
        DiskFullError("outbox full: No space left on device"), then=OutboxSink(outbox)
    )


def running(worker: Worker) -> Callable[[], None]:
    """Run the worker in a thread; returns the function that stops it."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.01))
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(10)

    return halt


def test_a_worker_gives_back_the_job_a_full_disk_stranded_and_resumes(
    spool: Spool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = benchmark_report_bytes(1)
    uid = str(from_bytes(raw).SOPInstanceUID)
    job_id = spool.receive(raw, InstanceInfo(SOP_CLASSES["comprehensive"], uid, "AE"))
    worker = Worker(
        spool, make_converter(MappingOptions()), full_once_sink(tmp_path / "outbox"), "t/w0.1"
    )
    caplog.set_level(logging.INFO, logger="sr2fhir.worker")
    halt = running(worker)
    try:
        wait_until(lambda: (tmp_path / "outbox" / f"{uid}.json").exists(), 30, "the Bundle")
        job = wait_until(lambda: _done(spool, job_id), 10, "the job DONE")
    finally:
        halt()
    assert job.attempts == 1  # the try the full disk cut short did not count
    assert [r.message.split(":")[0] for r in caplog.records if r.name == "sr2fhir.worker"] == [
        "worker t/w0.1 paused",
        f"job {job_id} DONE",
        "worker t/w0.1 resumed after 1 failed tries",
    ]


def _done(spool: Spool, job_id: int) -> Any:
    job = spool.jobs.get(job_id)
    return job if job is not None and job.status is JobStatus.DONE else None


def test_a_worker_pauses_while_the_spool_keeps_failing_and_says_so_once(
    spool: Spool, store: SqliteJobStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    claims: list[str] = []

    def full(worker_id: str, *args: Any) -> Any:
        claims.append(worker_id)
        raise DiskFullError("job database: database or disk is full")

    store.claim = full  # type: ignore[method-assign]
    sink = OutboxSink(tmp_path / "outbox")
    halt = running(Worker(spool, make_converter(MappingOptions()), sink, "t/w0.1"))
    try:
        wait_until(lambda: len(claims) >= 5, 30, "five tries")
    finally:
        halt()
    paused = [r.message for r in caplog.records if r.name == "sr2fhir.worker"]
    assert paused == ["worker t/w0.1 paused: job database: database or disk is full"]


def test_supervision_and_stop_survive_an_unwritable_job_database(
    tmp_path: Path,
    started: Callable[[Gateway], Gateway],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = started(Gateway(gateway_config(tmp_path)))
    assert gateway.spool is not None and gateway.pool is not None

    def full(*args: Any, **kwargs: Any) -> int:
        raise DiskFullError("job database: database or disk is full")

    monkeypatch.setattr(gateway.spool.jobs, "release_locked", full)
    monkeypatch.setattr(gateway.pool.slots[0].runner, "is_alive", lambda: False)
    gateway._supervise()
    gateway._supervise()
    errors = [r.message for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "supervision cannot update the job database: job database: database or disk is full"
    ]
    gateway.stop()  # does not raise; the jobs stay LOCKED until the next start's recovery


def test_a_start_on_a_full_disk_fails_naming_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: LocalFileStore) -> None:
        raise ENOSPC

    monkeypatch.setattr(LocalFileStore, "probe", full)
    gateway = Gateway(gateway_config(tmp_path))
    expected = f"cannot write to the data folder {tmp_path / 'data'}: No space left on device"
    try:
        with pytest.raises(DiskFullError, match=f"^{re.escape(expected)}$"):
            gateway.start()
    finally:
        gateway.stop()
