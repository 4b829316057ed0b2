"""Where the jobs stand, read from the spool (job table + files): for /metrics and `status`.

Only cheap questions are asked of the JobStore: counts() per state, and the rows of the
states that stay small in a healthy gateway (FAILED, and READY jobs waiting for a retry),
bounded by `scan_limit`. DONE rows pile up until `queue purge` and are never listed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sr2fhir.spool import Job, JobStatus, Spool
from sr2fhir.spool.local_files import QUARANTINE_DIR, SPOOL_DIR, LocalFileStore

SCAN_LIMIT = 10_000
OUTCOMES = ("delivered", "retrying", "rejected", "failed")


@dataclass(frozen=True, slots=True)
class FolderSize:
    files: int
    bytes: int | None  # None when the file store cannot tell cheaply


@dataclass(frozen=True, slots=True)
class QueueView:
    """Job counts per state, deliveries per outcome, spool size, the latest errors, and the
    free space on the data folder's filesystem with its limit (spool.min_free_bytes)."""

    counts: dict[JobStatus, int]
    outcomes: dict[str, int]
    spool: dict[str, FolderSize]
    last_errors: list[Job]
    free_bytes: int | None = None  # None when the filesystem cannot be asked
    min_free_bytes: int = 0


def read_queue(spool: Spool, scan_limit: int = SCAN_LIMIT, errors: int = 5) -> QueueView:
    """One consistent-enough look at the queue (a few short read transactions)."""
    counts = spool.jobs.counts()
    failed = spool.jobs.list_jobs(JobStatus.FAILED, scan_limit)
    waiting = [j for j in spool.jobs.list_jobs(JobStatus.READY, scan_limit) if j.last_error]
    rejected = sum(spool.files.is_quarantined(job.file_key) for job in failed)
    outcomes = {
        "delivered": counts[JobStatus.DONE],  # includes versions superseded by a newer one
        "retrying": len(waiting),
        "rejected": rejected,  # will never map: quarantined
        "failed": counts[JobStatus.FAILED] - rejected,  # refused by the sink or gave up
    }
    latest = sorted(failed + waiting, key=lambda job: job.updated_at, reverse=True)[:errors]
    space = spool.space
    return QueueView(counts, outcomes, spool_size(spool), latest, space.free(), space.min_free)


def spool_size(spool: Spool) -> dict[str, FolderSize]:
    """Files waiting (files/) and quarantined (quarantine/), with their bytes when local."""
    if isinstance(spool.files, LocalFileStore):
        root = spool.files.root
        return {name: _folder_size(root / name) for name in (SPOOL_DIR, QUARANTINE_DIR)}
    return {SPOOL_DIR: FolderSize(sum(1 for _ in spool.files.spooled_keys()), None)}


def _folder_size(folder: Path) -> FolderSize:
    files = size = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return FolderSize(0, 0)
    for entry in entries:
        try:
            if entry.is_file():
                files += 1
                size += entry.stat().st_size
        except OSError:  # deleted since the listing (delivered meanwhile)
            continue
    return FolderSize(files, size)
