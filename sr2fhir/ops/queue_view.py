"""Where the jobs stand, read from the spool (job table + files): for /metrics and `status`.

Only cheap questions are asked of the spool: counts() per state, and the rows of the
states that stay small in a healthy gateway (FAILED, and READY jobs waiting for a retry),
bounded by `scan_limit`. DONE rows pile up until `queue purge` and are never listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sr2fhir.spool import FolderSize, Job, JobStatus, Spool

SCAN_LIMIT = 10_000
OUTCOMES = ("delivered", "retrying", "rejected", "failed")


@dataclass(frozen=True, slots=True)
class QueueView:
    """Job counts per state, deliveries per outcome, spool size, the latest errors, the
    free space on the data folder's filesystem with its limit (spool.min_free_bytes), and
    which node holds how many LOCKED jobs."""

    counts: dict[JobStatus, int]
    outcomes: dict[str, int]
    spool: dict[str, FolderSize]
    last_errors: list[Job]
    free_bytes: int | None = None  # None when the filesystem cannot be asked
    min_free_bytes: int = 0
    holders: dict[str, int] | None = None  # LOCKED jobs per node (several share a database)


def read_queue(spool: Spool, scan_limit: int = SCAN_LIMIT, errors: int = 5) -> QueueView:
    """One consistent-enough look at the queue (a few short read transactions)."""
    counts = spool.counts()
    failed = spool.list_jobs(JobStatus.FAILED, scan_limit)
    waiting = [j for j in spool.list_jobs(JobStatus.READY, scan_limit) if j.last_error]
    rejected = sum(spool.is_quarantined(job) for job in failed)
    outcomes = {
        "delivered": counts[JobStatus.DONE],  # includes versions superseded by a newer one
        "retrying": len(waiting),
        "rejected": rejected,  # will never map: quarantined
        "failed": counts[JobStatus.FAILED] - rejected,  # refused by the sink or gave up
    }
    latest = sorted(failed + waiting, key=lambda job: job.updated_at, reverse=True)[:errors]
    free, min_free = spool.free_bytes()
    return QueueView(counts, outcomes, spool.sizes(), latest, free, min_free, spool.holders())
