"""What the spool stores and the Protocols its back ends implement.

Nothing outside spool/ may assume SQLite, PostgreSQL or a local path: code elsewhere sees
the Spool Protocol (the one door to durable state), Jobs and opaque file keys. Two spools
implement it: SqliteSpool (a JobStore on SQLite beside a FileStore on a local folder, the
embedded default) and PostgresSpool (rows and bytes in one database, for several nodes).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sr2fhir.spool.lifecycle import LifecycleUpdate, LifecycleView, RejectionClaim, ReportClaim


class JobStatus(enum.Enum):
    """READY -> LOCKED -> DONE | FAILED (and LOCKED -> READY on retry or release).

    HELD (fhir.unresolved_reference hold): LOCKED -> HELD when a resource the Bundle
    references is not on the server yet; claimed again like READY when due, until the
    references resolve, the hold runs out, or `queue release` lets it go (-> READY)."""

    READY = "READY"
    LOCKED = "LOCKED"
    DONE = "DONE"
    FAILED = "FAILED"
    HELD = "HELD"


class SpoolRole(enum.Enum):
    """Who opens the spool, which decides how it is opened (spool.backends)."""

    GATEWAY = "gateway"  # receives and supervises: durable commits, the data folder locked
    WORKER = "worker"  # claims and finishes: a lost commit only means a job runs again
    READER = "reader"  # queue, status, the ops endpoint: looks, and steers (retry, purge)


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """Who sent what: enough to route, log and recover an instance without decoding it."""

    sop_class_uid: str
    sop_instance_uid: str
    calling_ae: str


@dataclass(frozen=True, slots=True)
class Job:
    """One received version of one SOP instance and where it stands."""

    id: int
    status: JobStatus
    instance: InstanceInfo
    file_key: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    locked_by: str | None
    received_at: float
    updated_at: float
    outcome: str | None = None  # the FHIR server's OperationOutcome (JSON) or answer
    size: int = 0  # bytes of the spooled file
    warnings: str | None = None  # the last mapping's warnings (a JSON list), None: not mapped
    header: str | None = None  # the report's header facts (a JSON object; PHI), None: not mapped
    held_since: float | None = None  # when it was first HELD (None: never)
    released: bool = False  # `queue release`: deliver with the references it has

    @property
    def sop_instance_uid(self) -> str:
        return self.instance.sop_instance_uid


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """What one attempt at a job gave, recorded with the state change it ends in (one
    transaction): the attempt history the console and `queue show` list. `warnings` and
    `header` (JSON, from the mapping) replace the job's own when given."""

    http_status: int | None = None
    error: str | None = None
    outcome: str | None = None  # the server's OperationOutcome (JSON), if it sent one
    locations: tuple[str, ...] = ()  # entry.response.location of a delivered transaction
    warnings: str | None = None
    header: str | None = None


@dataclass(frozen=True, slots=True)
class StoredAttempt:
    """One recorded attempt: when, on which node, and what it gave."""

    at: float
    node: str | None
    http_status: int | None
    error: str | None
    outcome: str | None
    locations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a listing shows, newest first: a state, received since, a calling AE, a
    text `q` (a job id, a SOP/Study Instance UID prefix; the Patient ID or accession number
    too when `phi`), jobs older than `before_id` (paging), at most `limit`."""

    state: JobStatus | None = None
    since: float | None = None
    q: str | None = None
    calling_ae: str | None = None
    limit: int = 50
    before_id: int | None = None
    phi: bool = False


@dataclass(frozen=True, slots=True)
class LargeJobs:
    """Jobs of more than `bytes` are large; at most `workers` of them are LOCKED at once, so
    that the other workers keep the small reports flowing (workers.large_job_bytes)."""

    bytes: int
    workers: int


@dataclass(frozen=True, slots=True)
class FolderSize:
    """Files of one kind in the store (waiting, quarantined), with their bytes."""

    files: int
    bytes: int | None  # None when the file store cannot tell cheaply


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Result of enqueueing: the job id and the file it superseded (if a READY job was replaced)."""

    job_id: int
    replaced_file_key: str | None


class JobStore(Protocol):
    """The job table of SqliteSpool. Every method is one transaction; claim is safe across
    processes; `owner` methods change a job only while `owner` holds it (LeaseLostError)."""

    def enqueue(self, info: InstanceInfo, file_key: str, size: int = 0) -> Enqueued: ...

    def claim(self, worker_id: str, large: LargeJobs | None = None) -> Job | None: ...

    def mark_failed(
        self,
        job_id: int,
        owner: str,
        error: str,
        file_key: str | None = None,
        outcome: str | None = None,
        attempt: AttemptRecord | None = None,
    ) -> None: ...

    def schedule_retry(
        self,
        job_id: int,
        owner: str,
        error: str,
        delay: float,
        attempt: AttemptRecord | None = None,
    ) -> Job: ...

    def hold(self, job_id: int, owner: str, reason: str, delay: float) -> Job: ...

    def release_held(self, job_id: int) -> bool: ...

    def supersede_if_newer(self, job_id: int, owner: str) -> Job | None: ...

    def begin_report(self, job_id: int, owner: str, claim: ReportClaim) -> LifecycleView: ...

    def begin_rejection(self, job_id: int, owner: str, claim: RejectionClaim) -> LifecycleView: ...

    def finish_report(
        self,
        job_id: int,
        owner: str,
        update: LifecycleUpdate,
        attempt: AttemptRecord | None = None,
    ) -> None: ...

    def release(self, job_id: int, owner: str) -> None: ...

    def release_locked(
        self, locked_by_prefix: str = "", older_than: float | None = None
    ) -> int: ...

    def get(self, job_id: int) -> Job | None: ...

    def list_jobs(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]: ...

    def counts(self) -> dict[JobStatus, int]: ...

    def holders(self) -> dict[str, int]: ...

    def reset_to_ready(self, job_id: int, file_key: str) -> None: ...

    def purge_done(self, older_than: float) -> list[str]: ...

    def delete_failed(self, job_id: int) -> str | None:
        """Delete a FAILED job's row; its file key, or None when it is not FAILED."""

    def find_jobs(self, query: JobFilter) -> tuple[list[Job], int]: ...

    def attempts(self, job_id: int) -> list[StoredAttempt]: ...

    def timeline(self, since: float) -> list[tuple[float, float | None]]: ...

    def counts_by_ae(self) -> dict[str, dict[JobStatus, int]]: ...

    def pending_file_keys(self) -> set[str]: ...

    def newest_received(self, sop_instance_uid: str) -> float | None: ...

    def close(self) -> None: ...


class FileStore(Protocol):
    """The Part-10 files of SqliteSpool: `put` returns once the bytes survive a power cut."""

    def put(self, data: bytes, received_at: float) -> str: ...

    def probe(self) -> None:
        """Raise OSError unless a file can be stored durably right now."""

    def read(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def quarantine(self, key: str) -> str: ...

    def restore(self, key: str) -> str: ...

    def is_quarantined(self, key: str) -> bool: ...

    def received_at(self, key: str) -> float: ...

    def spooled_keys(self) -> Iterator[str]: ...

    def sizes(self) -> dict[str, FolderSize]:
        """Files waiting and quarantined ("files", "quarantine"), with their bytes."""

    def discard_temp(self) -> int: ...


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What start-up recovery did (all zero on a clean start)."""

    released: int = 0
    orphans_enqueued: int = 0
    orphans_superseded: int = 0
    unreadable_quarantined: int = 0
    temp_discarded: int = 0


class Spool(Protocol):
    """Receive, hand out, finish and recover jobs: the only door to durable state.

    Code outside spool/ calls these methods, never a back end. Updates of a claimed job
    (finish, reject, give_up, retry_later, supersede_if_newer, release) are fenced: they take
    effect only while `job.locked_by` still holds it, and raise LeaseLostError otherwise.
    """

    # receiving (SCP side)
    def receive(self, data: bytes, info: InstanceInfo) -> int:
        """Store one Part-10 instance durably and queue it (a READY job of the same instance
        is replaced); raise SpoolError (DiskFullError when out of room) if that fails."""

    # working (worker side)
    def claim(self, worker_id: str, large: LargeJobs | None = None) -> Job | None:
        """The next due job, now LOCKED by `worker_id`; None when nothing is due. Versions
        of one SOP instance are never LOCKED at once."""

    def read(self, job: Job) -> bytes:
        """The instance's Part-10 bytes (OSError when they are gone)."""

    def reject(self, job: Job, reason: str, attempt: AttemptRecord | None = None) -> None:
        """Will never map: FAILED at once, the bytes quarantined. Each of these three (and
        finish_report) records `attempt` (when given) in the same transaction as the state
        change."""

    def give_up(
        self,
        job: Job,
        reason: str,
        outcome: str | None = None,
        attempt: AttemptRecord | None = None,
    ) -> None:
        """Delivery failed for good: FAILED, the bytes kept for `queue retry`."""

    def retry_later(
        self, job: Job, reason: str, delay: float, attempt: AttemptRecord | None = None
    ) -> Job:
        """READY again after `delay` s, or DONE when a newer version arrived meanwhile."""

    def hold(self, job: Job, reason: str, delay: float) -> Job:
        """HELD until `delay` s from now (held_since set at the first hold; the claim does
        not count as an attempt), or DONE when a newer version arrived meanwhile."""

    def supersede_if_newer(self, job: Job) -> Job | None:
        """Before delivering: DONE ("superseded by job N") when a newer version of the
        instance is queued or delivered; None when `job` is the newest."""

    # the report lifecycle (spool.lifecycle): revisions and rejection notes
    def begin_report(self, job: Job, claim: ReportClaim) -> LifecycleView:
        """Before delivering an SR: its place in its chain (deliver, superseded, rejected),
        the predecessors' resources it retires; the chain's rows held by `job` until
        finish_report. WAIT: another job is changing the chain, `job` is READY again."""

    def begin_rejection(self, job: Job, claim: RejectionClaim) -> LifecycleView:
        """Before delivering a rejection note: its targets marked rejected (remembered for
        those not seen yet) and their current resources to retire. WAIT as begin_report."""

    def finish_report(
        self, job: Job, update: LifecycleUpdate, attempt: AttemptRecord | None = None
    ) -> None:
        """Delivered (or nothing to deliver): DONE with `update.note` as its outcome, the
        lifecycle record updated and `attempt` recorded, in one commit."""

    def release(self, job: Job) -> None:
        """Give a claimed job back untouched: the claim does not count as an attempt."""

    def release_worker(self, worker_prefix: str) -> int:
        """Jobs LOCKED by workers whose id starts with `worker_prefix` go back to READY."""

    def tend_leases(self, node_prefix: str) -> int:
        """The node's supervision tick: renew the leases of the jobs this node's workers
        hold (ids starting with `node_prefix`) and release expired ones; how many released."""

    def check_writable(self) -> None:
        """Raise SpoolError (DiskFullError when full) unless an instance can be stored now."""

    # operating (queue, status, ops)
    def get(self, job_id: int) -> Job | None: ...

    def list_jobs(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]:
        """Jobs (of one state), oldest first."""

    def counts(self) -> dict[JobStatus, int]:
        """Jobs per state (every state present)."""

    def holders(self) -> dict[str, int]:
        """LOCKED jobs per node (the part of `locked_by` before the first '/')."""

    def is_quarantined(self, job: Job) -> bool:
        """Its bytes were set aside: the report cannot be mapped."""

    def sizes(self) -> dict[str, FolderSize]:
        """Instances waiting ("files") and quarantined ("quarantine"), with their bytes."""

    def shortage(self) -> str | None:
        """Why new instances are refused now (spool.min_free_bytes); None while there is room."""

    def free_bytes(self) -> tuple[int | None, int]:
        """(bytes free where instances are stored, or None when that cannot be asked; limit)."""

    def retry(self, job_id: int) -> bool:
        """Run a FAILED job again now; False when it is not FAILED."""

    def retry_failed(self) -> int:
        """Run every FAILED job again now; how many."""

    def release_held(self, job_id: int) -> bool:
        """`queue release`: a HELD job (or one READY again within its hold) is due now and
        delivered with the references it has; False when it is neither."""

    def purge_done(self, older_than: float) -> int:
        """Forget DONE jobs last updated before `older_than`; how many."""

    def discard(self, job_id: int) -> bool:
        """Forget a FAILED job (its bytes stay in the quarantine: sqlite); False when it
        is not FAILED."""

    def find_jobs(self, query: JobFilter) -> tuple[list[Job], int]:
        """The jobs `query` selects, newest first, and how many it selects in all."""

    def attempts(self, job_id: int) -> list[StoredAttempt]:
        """The job's recorded attempts, oldest first."""

    def timeline(self, since: float) -> list[tuple[float, float | None]]:
        """(received_at, delivered_at or None) of the jobs received or delivered since
        `since` (a superseded version counts as not delivered)."""

    def counts_by_ae(self) -> dict[str, dict[JobStatus, int]]:
        """Jobs per calling AE and state (the states a calling AE has)."""

    # start-up and stop
    def recover(self) -> RecoveryReport:
        """Before any worker or association starts: what a crash of this node left behind
        (sqlite: every LOCKED job, the node is alone; postgresql: expired leases only)."""

    def close(self) -> None: ...


def node_of(worker_id: str) -> str:
    """The node part of a worker id (`host:pid/w0.1` -> `host:pid`)."""
    return worker_id.split("/", 1)[0]


def holder_of(job: Job) -> str:
    """Who claimed `job` (the fenced updates are made in its name)."""
    if job.locked_by is None:
        raise ValueError(f"job {job.id} was not claimed")
    return job.locked_by


def like_prefix(prefix: str) -> str:
    """A LIKE pattern (escape character: backslash) matching what starts with `prefix`."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def short_error(text: str, limit: int = 500) -> str:
    """One line, bounded: what goes into last_error and the log."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


__all__: Sequence[str] = (
    "AttemptRecord",
    "Enqueued",
    "FileStore",
    "FolderSize",
    "InstanceInfo",
    "Job",
    "JobFilter",
    "JobStatus",
    "JobStore",
    "LargeJobs",
    "RecoveryReport",
    "Spool",
    "SpoolRole",
    "StoredAttempt",
    "holder_of",
    "like_prefix",
    "node_of",
    "short_error",
)
