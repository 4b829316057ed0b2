"""SqliteSpool, the embedded default: a FileStore (a local folder) and a JobStore (SQLite)
used together so that nothing acknowledged is lost.

Order of writes on receive: file (durable) first, then the job row. A crash in between leaves
a file without a row, which start-up recovery enqueues; a row never points at a missing file.
A refused instance (SpoolError: C-STORE 0xA700) leaves neither. Every file operation fails as a
SpoolError (DiskFullError when the disk is full), never as a bare OSError.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import time
from pathlib import Path

import pydicom

from sr2fhir.errors import SpoolError
from sr2fhir.spool.lifecycle import LifecycleUpdate, LifecycleView, RejectionClaim, ReportClaim
from sr2fhir.spool.local_files import LocalFileStore
from sr2fhir.spool.model import (
    AttemptRecord,
    FileStore,
    FolderSize,
    InstanceInfo,
    Job,
    JobFilter,
    JobStatus,
    JobStore,
    LargeJobs,
    RecoveryReport,
    StoredAttempt,
    holder_of,
    node_of,
)
from sr2fhir.spool.space import SpaceGuard, storage_error
from sr2fhir.spool.sqlite_jobs import SqliteJobStore

log = logging.getLogger(__name__)

DB_NAME = "jobs.sqlite3"
LOCK_NAME = "gateway.lock"
DEFAULT_LEASE = 300.0  # workers.lease


class SqliteSpool:
    """The Spool (model.Spool) of one node: the only place that pairs rows and files."""

    def __init__(
        self,
        jobs: JobStore,
        files: FileStore,
        space: SpaceGuard,
        lock_fd: int | None = None,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        """`lease`: seconds after which a job still LOCKED goes back to READY (its worker no
        longer answers; a dead worker's jobs are released at once by release_worker)."""
        self.jobs = jobs
        self.files = files
        self.space = space  # the data folder and its free-space limit
        self.lease = lease
        self._lock_fd = lock_fd

    # ------------------------------------------------------------ receiving (SCP side)

    def receive(self, data: bytes, info: InstanceInfo) -> int:
        """Store one Part-10 instance durably and queue it; raise SpoolError if that fails
        (DiskFullError below spool.min_free_bytes or on a full disk)."""
        self.space.check()
        try:
            key = self.files.put(data, time.time())
        except OSError as exc:
            raise storage_error("cannot write spool file", exc) from exc
        try:
            enqueued = self.jobs.enqueue(info, key, len(data))
        except SpoolError:
            self._delete(key)  # refused: nothing of it may stay behind
            raise
        if enqueued.replaced_file_key is not None:
            self._delete(enqueued.replaced_file_key)
            log_replaced(enqueued.job_id, info)
        return enqueued.job_id

    # ------------------------------------------------------------ working (worker side)

    def claim(self, worker_id: str, large: LargeJobs | None = None) -> Job | None:
        """The next due job, now LOCKED by `worker_id`; None when nothing is due."""
        return self.jobs.claim(worker_id, large)

    def read(self, job: Job) -> bytes:
        return self.files.read(job.file_key)

    def reject(self, job: Job, reason: str, attempt: AttemptRecord | None = None) -> None:
        """Will never map: FAILED at once, file moved to the quarantine."""
        try:
            key = self.files.quarantine(job.file_key)
        except OSError as exc:
            raise storage_error(f"cannot quarantine {job.file_key}", exc) from exc
        self.jobs.mark_failed(job.id, holder_of(job), reason, key, attempt=attempt)

    def give_up(
        self,
        job: Job,
        reason: str,
        outcome: str | None = None,
        attempt: AttemptRecord | None = None,
    ) -> None:
        """Delivery failed for good: FAILED (with the server's OperationOutcome, if any),
        file kept in the spool for `queue retry`."""
        self.jobs.mark_failed(job.id, holder_of(job), reason, outcome=outcome, attempt=attempt)

    def retry_later(
        self, job: Job, reason: str, delay: float, attempt: AttemptRecord | None = None
    ) -> Job:
        updated = self.jobs.schedule_retry(job.id, holder_of(job), reason, delay, attempt)
        if updated.status is JobStatus.DONE:  # a newer version superseded this one
            self._delete(job.file_key)
        return updated

    def hold(self, job: Job, reason: str, delay: float) -> Job:
        updated = self.jobs.hold(job.id, holder_of(job), reason, delay)
        if updated.status is JobStatus.DONE:  # a newer version superseded this one
            self._delete(job.file_key)
        return updated

    def supersede_if_newer(self, job: Job) -> Job | None:
        """Before delivering: a newer version of the instance (queued or delivered) wins, so
        an older one -- e.g. a FAILED version run again by `queue retry` -- never overwrites
        it. DONE without delivery then; None when `job` is the newest."""
        updated = self.jobs.supersede_if_newer(job.id, holder_of(job))
        if updated is not None:
            self.files.delete(job.file_key)
        return updated

    def begin_report(self, job: Job, claim: ReportClaim) -> LifecycleView:
        return self.jobs.begin_report(job.id, holder_of(job), claim)

    def begin_rejection(self, job: Job, claim: RejectionClaim) -> LifecycleView:
        return self.jobs.begin_rejection(job.id, holder_of(job), claim)

    def finish_report(
        self, job: Job, update: LifecycleUpdate, attempt: AttemptRecord | None = None
    ) -> None:
        """DONE with the lifecycle record updated; the spooled copy is no longer needed."""
        self.jobs.finish_report(job.id, holder_of(job), update, attempt)
        self._delete(job.file_key)

    def release(self, job: Job) -> None:
        """Give a claimed job back untouched (the spool failed under it): the claim does not
        count as an attempt."""
        self.jobs.release(job.id, holder_of(job))

    def release_worker(self, worker_prefix: str) -> int:
        """Jobs LOCKED by a worker whose id starts with `worker_prefix` (a seat whose worker
        died or stopped) go back to READY; how many."""
        return self.jobs.release_locked(worker_prefix)

    def tend_leases(self, node_prefix: str) -> int:
        """One node: no lease to renew (the folder lock says the node lives); jobs LOCKED
        longer than `lease` seconds (a worker that no longer answers) go back to READY."""
        return self.jobs.release_locked(older_than=time.time() - self.lease)

    def check_writable(self) -> None:
        """Raise SpoolError (DiskFullError on a full disk) unless a file can be stored now."""
        _check_writable(self.files, self.space.folder)

    def _delete(self, key: str) -> None:
        try:
            self.files.delete(key)
        except OSError as exc:
            raise storage_error(f"cannot delete {key}", exc) from exc

    # ------------------------------------------------------------ operating (queue, status, ops)

    def get(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    def list_jobs(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        """Jobs (of one state), oldest first."""
        return self.jobs.list_jobs(status, limit)

    def counts(self) -> dict[JobStatus, int]:
        """Jobs per state (every state present)."""
        return self.jobs.counts()

    def holders(self) -> dict[str, int]:
        held: dict[str, int] = {}
        for owner, count in self.jobs.holders().items():
            held[node_of(owner)] = held.get(node_of(owner), 0) + count
        return held

    def is_quarantined(self, job: Job) -> bool:
        """Its file was set aside: the report cannot be mapped (not a delivery failure)."""
        return self.files.is_quarantined(job.file_key)

    def sizes(self) -> dict[str, FolderSize]:
        """Files waiting and quarantined, with their bytes where the store can tell."""
        return self.files.sizes()

    def shortage(self) -> str | None:
        """Why new instances are refused now (spool.min_free_bytes); None while there is room."""
        return self.space.shortage()

    def free_bytes(self) -> tuple[int | None, int]:
        """(bytes free for the data now, or None when that cannot be asked; the limit)."""
        return self.space.free(), self.space.min_free

    def retry(self, job_id: int) -> bool:
        """Run a FAILED job again now (its file comes back from the quarantine)."""
        job = self.jobs.get(job_id)
        if job is None or job.status is not JobStatus.FAILED:
            return False
        key = job.file_key
        if self.files.is_quarantined(key):
            key = self.files.restore(key)
        self.jobs.reset_to_ready(job.id, key)
        return True

    def retry_failed(self) -> int:
        failed = self.jobs.list_jobs(JobStatus.FAILED, limit=1_000_000)
        return sum(self.retry(job.id) for job in failed)

    def release_held(self, job_id: int) -> bool:
        return self.jobs.release_held(job_id)

    def purge_done(self, older_than: float) -> int:
        keys = self.jobs.purge_done(older_than)
        for key in keys:
            self.files.delete(key)
        return len(keys)

    def discard(self, job_id: int) -> bool:
        """Forget a FAILED job: its file goes to (or stays in) quarantine/, for whoever
        looks into it, and never comes back by itself (recovery reads files/ only)."""
        job = self.jobs.get(job_id)
        if job is None or job.status is not JobStatus.FAILED:
            return False
        if not self.files.is_quarantined(job.file_key):
            try:
                self.files.quarantine(job.file_key)
            except FileNotFoundError:
                pass  # nothing left to keep
            except OSError as exc:
                raise storage_error(f"cannot quarantine {job.file_key}", exc) from exc
        return self.jobs.delete_failed(job_id) is not None

    def find_jobs(self, query: JobFilter) -> tuple[list[Job], int]:
        return self.jobs.find_jobs(query)

    def attempts(self, job_id: int) -> list[StoredAttempt]:
        return self.jobs.attempts(job_id)

    def timeline(self, since: float) -> list[tuple[float, float | None]]:
        return self.jobs.timeline(since)

    def counts_by_ae(self) -> dict[str, dict[JobStatus, int]]:
        return self.jobs.counts_by_ae()

    # ------------------------------------------------------------ start-up

    def recover(self) -> RecoveryReport:
        """Before any worker or association starts: stale locks (the node is alone: every
        LOCKED job is its own), temp files, orphan files."""
        released = self.jobs.release_locked()
        temp = self.files.discard_temp()
        # By file name: names are unique, and a crash may have left a row's folder behind a move.
        pending = {_name(key) for key in self.jobs.pending_file_keys()}
        enqueued = superseded = unreadable = 0
        for key in sorted(self.files.spooled_keys()):
            if _name(key) in pending:
                continue
            # No pending job: a crash between file and row (enqueue it), a DONE job's file
            # not yet deleted, or a replaced version (both older than their row: delete).
            outcome = self._recover_orphan(key)
            enqueued += outcome == "enqueued"
            superseded += outcome == "superseded"
            unreadable += outcome == "unreadable"
        report = RecoveryReport(released, enqueued, superseded, unreadable, temp)
        if report != RecoveryReport():
            log.info("spool recovery: %s", report)
        return report

    def _recover_orphan(self, key: str) -> str:
        try:
            data = self.files.read(key)
            info = read_instance_info(data)
        except (OSError, ValueError) as exc:
            log.warning("spool recovery: unreadable file %s quarantined: %s", key, exc)
            self.files.quarantine(key)
            return "unreadable"
        newest = self.jobs.newest_received(info.sop_instance_uid)
        if newest is not None and newest > self.files.received_at(key):
            self.files.delete(key)
            return "superseded"
        job_id = self.jobs.enqueue(info, key, len(data)).job_id
        log.info(
            "job %d recovered from a spool file: sop_instance_uid=%s calling_ae=%s",
            job_id,
            info.sop_instance_uid,
            info.calling_ae,
        )
        return "enqueued"

    def close(self) -> None:
        self.jobs.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the folder lock
            self._lock_fd = None


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def log_replaced(job_id: int, info: InstanceInfo) -> None:
    """The INFO line of a READY job whose instance arrived again (the new version wins)."""
    log.info(
        "job %d replaced by a new version: sop_instance_uid=%s calling_ae=%s",
        job_id,
        info.sop_instance_uid,
        info.calling_ae,
    )


def read_instance_info(data: bytes) -> InstanceInfo:
    """SOP Class/Instance UID and calling AE from a spooled file's meta header (no body decode)."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data), specific_tags=[(0x0008, 0x0018)])
        file_meta = ds.file_meta
        return InstanceInfo(
            sop_class_uid=str(file_meta.MediaStorageSOPClassUID),
            sop_instance_uid=str(file_meta.MediaStorageSOPInstanceUID),
            calling_ae=str(file_meta.get("SourceApplicationEntityTitle", "")).strip(),
        )
    except (AttributeError, EOFError, KeyError, pydicom.errors.InvalidDicomError) as exc:
        raise ValueError(f"no readable file meta: {type(exc).__name__}") from exc


def open_spool(
    data_dir: Path,
    db_timeout: float = 5.0,
    exclusive: bool = False,
    durable: bool = True,
    min_free_bytes: int = 0,
    lease: float = DEFAULT_LEASE,
) -> SqliteSpool:
    """The embedded default: SQLite job table and Part-10 files under one folder.

    `exclusive` (the gateway) first checks that the folder takes a file (a full disk is then
    this one clear error, not SQLite's "disk I/O error"), then takes a lock on the folder so
    that a second gateway on the same data folder fails at start instead of stealing the first
    one's jobs at recovery. `durable=False` is for worker processes, which never acknowledge
    anything (see SqliteJobStore). Below `min_free_bytes` free on the folder's filesystem,
    `receive` refuses.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        files = LocalFileStore(data_dir)
    except OSError as exc:
        raise storage_error(f"cannot use data folder {data_dir}", exc) from exc
    if exclusive:
        _check_writable(files, data_dir)
    try:
        owner = _lock_folder(data_dir) if exclusive else None
    except OSError as exc:
        raise storage_error(f"cannot use data folder {data_dir}", exc) from exc
    try:
        jobs = SqliteJobStore(data_dir / DB_NAME, timeout=db_timeout, durable=durable)
    except SpoolError:
        if owner is not None:
            os.close(owner)
        raise
    return SqliteSpool(jobs, files, SpaceGuard(data_dir, min_free_bytes), owner, lease)


def _check_writable(files: FileStore, folder: Path) -> None:
    try:
        files.probe()
    except OSError as exc:
        raise storage_error(f"cannot write to the data folder {folder}", exc) from exc


def lock_folder(data_dir: Path) -> int:
    """An exclusive lock on the data folder (SpoolError naming it when another gateway
    holds it); the descriptor releases it when closed."""
    try:
        return _lock_folder(data_dir)
    except OSError as exc:
        raise storage_error(f"cannot use data folder {data_dir}", exc) from exc


def _lock_folder(data_dir: Path) -> int:
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolError(f"another sr2fhir gateway is using the data folder {data_dir}") from None
    return fd
