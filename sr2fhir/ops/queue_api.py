"""PLACEHOLDER of the queue API contract (/work/wt/QUEUE-API-CONTRACT.md) so this branch runs
before h16-api lands; h16-api owns the real module, which replaces this one at the merge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sr2fhir.config import Config
from sr2fhir.spool import Job, JobStatus, Spool


@dataclass(frozen=True, slots=True)
class JobQuery:
    state: JobStatus | None = None
    since: float | None = None
    q: str | None = None
    calling_ae: str | None = None
    limit: int = 50
    before_id: int | None = None


@dataclass(frozen=True, slots=True)
class JobSummary:
    id: int
    state: JobStatus
    received_at: float
    updated_at: float
    calling_ae: str
    sop_instance_uid: str
    sop_class_uid: str
    attempts: int
    last_error: str | None
    held_by: str | None


@dataclass(frozen=True, slots=True)
class JobsPage:
    jobs: tuple[JobSummary, ...]
    next_before_id: int | None
    total: int


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float
    node: str | None
    http_status: int | None
    error: str | None
    outcome: dict[str, Any] | None
    locations: tuple[str, ...]


class Unavailable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class JobDetail:
    summary: JobSummary
    header: dict[str, str]
    attempts: tuple[Attempt, ...]
    warnings: tuple[dict[str, Any], ...]
    next_attempt_at: float | None = None
    outcome: dict[str, Any] | None = None
    answer: str | None = None
    quarantined: bool = False


@dataclass(frozen=True, slots=True)
class QueueStats:
    counts: dict[str, int]
    received_per_minute: tuple[int, ...]
    delivered_per_minute: tuple[int, ...]
    latency_p50_1h: float | None
    latency_p95_1h: float | None
    latency_p50_24h: float | None
    latency_p95_24h: float | None
    per_calling_ae: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class ActionReport:
    done: tuple[int, ...]
    skipped: dict[int, str]


def _summary(job: Job) -> JobSummary:
    return JobSummary(
        job.id,
        job.status,
        job.received_at,
        job.updated_at,
        job.instance.calling_ae,
        job.sop_instance_uid,
        job.instance.sop_class_uid,
        job.attempts,
        job.last_error,
        job.locked_by,
    )


class QueueApi:
    def __init__(self, spool: Spool, config: Config) -> None:
        self.spool = spool
        self.config = config

    def jobs(self, query: JobQuery, *, with_phi: bool) -> JobsPage:
        jobs = self.spool.list_jobs(query.state, 1000)
        if query.calling_ae:
            jobs = [j for j in jobs if j.instance.calling_ae == query.calling_ae]
        if query.q:
            jobs = [
                j for j in jobs if j.sop_instance_uid.startswith(query.q) or str(j.id) == query.q
            ]
        if query.before_id:
            jobs = [j for j in jobs if j.id < query.before_id]
        jobs.sort(key=lambda j: -j.id)
        page = jobs[: query.limit]
        nxt = page[-1].id if len(jobs) > query.limit else None
        return JobsPage(tuple(_summary(j) for j in page), nxt, len(jobs))

    def job(self, job_id: int, *, with_phi: bool) -> JobDetail | None:
        job = self.spool.get(job_id)
        if job is None:
            return None
        outcome = json.loads(job.outcome) if job.outcome else None
        attempts = (
            (Attempt(job.updated_at, None, 422 if outcome else None, job.last_error, outcome, ()),)
            if job.last_error
            else ()
        )
        import io

        import pydicom

        try:
            ds = pydicom.dcmread(io.BytesIO(self.spool.read(job)))
            header = (
                {"patient_id": str(ds.PatientID), "study_instance_uid": str(ds.StudyInstanceUID)}
                if with_phi
                else {}
            )
        except OSError:
            header = {}
        return JobDetail(
            _summary(job),
            header,
            attempts,
            (),
            None,
            outcome if job.status is JobStatus.FAILED else None,
        )

    def retry(self, ids: list[int]) -> ActionReport:
        done = tuple(i for i in ids if self.spool.retry(i))
        return ActionReport(done, {i: "not FAILED" for i in ids if i not in done})

    def discard(self, ids: list[int]) -> ActionReport:
        return ActionReport((), {i: "stub" for i in ids})

    def stats(self, now: float | None = None) -> QueueStats:
        counts = {s.value: n for s, n in self.spool.counts().items()}
        return QueueStats(counts, (0,) * 1440, (0,) * 1440, None, None, None, None, {})

    def bundle(self, job_id: int) -> dict[str, Any] | None:
        job = self.spool.get(job_id)
        if job is None:
            return None
        from sr2fhir.worker import make_converter

        try:
            return make_converter(self.config.mapping_options)(self.spool.read(job))
        except OSError:
            raise Unavailable(
                f"job {job_id} is {job.status.value}: its received bytes are gone"
            ) from None
