"""What the spool stores and the Protocols its back ends implement.

Nothing outside spool/ may assume SQLite or a local path: code elsewhere sees a JobStore,
a FileStore and opaque file keys.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


class JobStatus(enum.Enum):
    """READY -> LOCKED -> DONE | FAILED (and LOCKED -> READY on retry or release)."""

    READY = "READY"
    LOCKED = "LOCKED"
    DONE = "DONE"
    FAILED = "FAILED"


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

    @property
    def sop_instance_uid(self) -> str:
        return self.instance.sop_instance_uid


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
    """The job table. Every method is one transaction; claim is safe across processes."""

    def enqueue(self, info: InstanceInfo, file_key: str, size: int = 0) -> Enqueued: ...

    def claim(self, worker_id: str, large: LargeJobs | None = None) -> Job | None: ...

    def mark_done(self, job_id: int) -> None: ...

    def mark_failed(
        self, job_id: int, error: str, file_key: str | None = None, outcome: str | None = None
    ) -> None: ...

    def schedule_retry(self, job_id: int, error: str, delay: float) -> Job: ...

    def supersede_if_newer(self, job_id: int) -> Job | None: ...

    def release(self, job_id: int) -> None: ...

    def release_locked(
        self, locked_by_prefix: str = "", older_than: float | None = None
    ) -> int: ...

    def get(self, job_id: int) -> Job | None: ...

    def list_jobs(self, status: JobStatus | None = None, limit: int = 100) -> list[Job]: ...

    def counts(self) -> dict[JobStatus, int]: ...

    def reset_to_ready(self, job_id: int, file_key: str) -> None: ...

    def purge_done(self, older_than: float) -> list[str]: ...

    def pending_file_keys(self) -> set[str]: ...

    def newest_received(self, sop_instance_uid: str) -> float | None: ...

    def close(self) -> None: ...


class FileStore(Protocol):
    """Durable bytes: `put` returns only once the bytes survive a power cut."""

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


def short_error(text: str, limit: int = 500) -> str:
    """One line, bounded: what goes into last_error and the log."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


__all__: Sequence[str] = (
    "Enqueued",
    "FileStore",
    "FolderSize",
    "InstanceInfo",
    "Job",
    "JobStatus",
    "JobStore",
    "LargeJobs",
    "short_error",
)
