"""The queue API: look at jobs and act on them, the one code behind `sr2fhir queue ...` and
the operations endpoint's /api routes (sr2fhir.ops.api_routes).

Values are frozen dataclasses with `to_json()` (times as ISO-8601 UTC strings in `<name>` and
epoch seconds in `<name>_epoch`). PHI -- patient name, Patient ID, accession number -- is
shown, and searched for, only when the caller says `with_phi` (the HTTP API: an
authenticated caller; the CLI: `--with-phi`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sr2fhir.config import Config, SpoolBackend
from sr2fhir.delivery import as_sent
from sr2fhir.errors import MappingError, SrParseError
from sr2fhir.mapping import read_sr_bytes
from sr2fhir.report_facts import Converter, header_facts, make_converter, without_phi
from sr2fhir.spool import Job, JobFilter, JobStatus, Spool, StoredAttempt

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
SERIES_MINUTES = 1440  # the stats' per-minute series: the last 24 h
MAX_LIMIT = 1000  # jobs per page


class Unavailable(Exception):
    """What was asked of an existing job cannot be given now (one line: why)."""


def iso(epoch: float) -> str:
    """ISO-8601 UTC with milliseconds: 2026-11-30T12:00:00.250Z."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _times(**named: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, epoch in named.items():
        out[name] = None if epoch is None else iso(epoch)
        out[f"{name}_epoch"] = epoch
    return out


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Which jobs to list, newest first: a state, received since (epoch s), a text `q` (a job
    id, a SOP or Study Instance UID prefix; with PHI also a Patient ID or accession number),
    a calling AE, at most `limit` (1..MAX_LIMIT), older than `before_id` (the next page)."""

    state: JobStatus | None = None
    since: float | None = None
    q: str | None = None
    calling_ae: str | None = None
    limit: int = 50
    before_id: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {self.limit}")
        if self.before_id is not None and self.before_id < 1:
            raise ValueError(f"before_id must be a job id (>= 1), not {self.before_id}")

    def to_json(self) -> dict[str, Any]:
        return {
            "state": None if self.state is None else self.state.value,
            **_times(since=self.since),
            "q": self.q,
            "calling_ae": self.calling_ae,
            "limit": self.limit,
            "before_id": self.before_id,
        }


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One line of a listing (no PHI)."""

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

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        info = job.instance
        return cls(
            job.id,
            job.status,
            job.received_at,
            job.updated_at,
            info.calling_ae,
            info.sop_instance_uid,
            info.sop_class_uid,
            job.attempts,
            job.last_error,
            job.locked_by,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            **_times(received_at=self.received_at, updated_at=self.updated_at),
            "calling_ae": self.calling_ae,
            "sop_instance_uid": self.sop_instance_uid,
            "sop_class_uid": self.sop_class_uid,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "held_by": self.held_by,
        }


@dataclass(frozen=True, slots=True)
class JobsPage:
    """A page of jobs; `next_before_id` asks for the next (older) page, None at the end;
    `total`: how many jobs the query selects in all."""

    jobs: tuple[JobSummary, ...]
    next_before_id: int | None
    total: int

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": [job.to_json() for job in self.jobs],
            "next_before_id": self.next_before_id,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt: when, on which node, the server's HTTP status, a one-line error, the
    server's OperationOutcome, and the entry.response.location list of a delivered one."""

    at: float
    node: str | None
    http_status: int | None
    error: str | None
    outcome: dict[str, Any] | None
    locations: tuple[str, ...]

    @classmethod
    def of(cls, stored: StoredAttempt) -> Attempt:
        outcome = _json_object(stored.outcome)
        return cls(
            stored.at, stored.node, stored.http_status, stored.error, outcome, stored.locations
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **_times(at=self.at),
            "node": self.node,
            "http_status": self.http_status,
            "error": self.error,
            "outcome": self.outcome,
            "locations": list(self.locations),
        }


@dataclass(frozen=True, slots=True)
class JobDetail:
    """One job: its summary, the report's header facts (PHI only when asked with PHI), its
    attempts oldest first, and the mapping's warnings (issue 15)."""

    summary: JobSummary
    header: dict[str, str]
    attempts: tuple[Attempt, ...]
    warnings: tuple[dict[str, Any], ...]
    next_attempt_at: float | None = None  # READY: when it runs again
    outcome: dict[str, Any] | None = None  # FAILED: the server's OperationOutcome kept
    answer: str | None = None  # FAILED: the start of an answer that was no OperationOutcome
    quarantined: bool = False  # not a usable report: its bytes were set aside

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_json(),
            "header": self.header,
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "warnings": list(self.warnings),
            **_times(next_attempt_at=self.next_attempt_at),
            "outcome": self.outcome,
            "answer": self.answer,
            "quarantined": self.quarantined,
        }


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Jobs per state; received and delivered per minute over the last 24 h (1440 buckets,
    oldest first, the last one the current minute, ending at `series_end`); latency from
    received to delivered (p50/p95 over the last hour and day; None without deliveries);
    jobs per calling AE and state."""

    counts: dict[str, int]
    received_per_minute: tuple[int, ...]
    delivered_per_minute: tuple[int, ...]
    latency_p50_1h: float | None
    latency_p95_1h: float | None
    latency_p50_24h: float | None
    latency_p95_24h: float | None
    per_calling_ae: dict[str, dict[str, int]]
    series_end: float = 0.0  # epoch s: the end of the last bucket

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "received_per_minute": list(self.received_per_minute),
            "delivered_per_minute": list(self.delivered_per_minute),
            "latency_p50_1h": self.latency_p50_1h,
            "latency_p95_1h": self.latency_p95_1h,
            "latency_p50_24h": self.latency_p50_24h,
            "latency_p95_24h": self.latency_p95_24h,
            "per_calling_ae": self.per_calling_ae,
            **_times(series_end=self.series_end),
        }


@dataclass(frozen=True, slots=True)
class ActionReport:
    """What a retry or discard did: the jobs done, and why each other one was skipped."""

    done: tuple[int, ...]
    skipped: dict[int, str]

    def to_json(self) -> dict[str, Any]:
        return {"done": list(self.done), "skipped": {str(k): v for k, v in self.skipped.items()}}


class QueueApi:
    """Queries and actions over one open Spool (closed by whoever opened it)."""

    def __init__(self, spool: Spool, config: Config) -> None:
        self.spool = spool
        self.config = config
        self._convert: Converter | None = None

    def jobs(self, query: JobQuery, *, with_phi: bool) -> JobsPage:
        found, total = self.spool.find_jobs(
            JobFilter(
                query.state,
                query.since,
                query.q,
                query.calling_ae,
                query.limit + 1,
                query.before_id,
                phi=with_phi,
            )
        )
        page = found[: query.limit]
        more = len(found) > query.limit
        return JobsPage(tuple(JobSummary.of(j) for j in page), page[-1].id if more else None, total)

    def job(self, job_id: int, *, with_phi: bool) -> JobDetail | None:
        job = self.spool.get(job_id)
        if job is None:
            return None
        header = _json_object(job.header) or self._header_from_bytes(job)
        kept = _json_object(job.outcome)
        if kept is not None and kept.get("resourceType") != "OperationOutcome":
            kept = None  # some other answer: shown as it was received
        failed = job.status is JobStatus.FAILED
        return JobDetail(
            JobSummary.of(job),
            {k: str(v) for k, v in (header if with_phi else without_phi(header)).items()},
            tuple(Attempt.of(a) for a in self.spool.attempts(job_id)),
            tuple(w for w in _json_list(job.warnings) if isinstance(w, dict)),
            job.next_attempt_at if job.status is JobStatus.READY else None,
            kept if failed else None,
            job.outcome if failed and kept is None else None,
            self.spool.is_quarantined(job),
        )

    def retry(self, ids: Iterable[int]) -> ActionReport:
        """Run FAILED jobs again now (a quarantined one's bytes come back)."""
        return self._act(ids, self.spool.retry)

    def discard(self, ids: Iterable[int]) -> ActionReport:
        """Forget FAILED jobs (sqlite: their bytes stay in quarantine/)."""
        return self._act(ids, self.spool.discard)

    def discard_keeps(self) -> str:
        """Where a discarded job's bytes are (for the one line saying what was done)."""
        if self.config.spool.backend is SpoolBackend.POSTGRESQL:
            return "their bytes deleted with them"
        return f"their files kept in {self.config.spool.path / 'quarantine'}"

    def failed_ids(self, older_than: float | None = None) -> list[int]:
        """FAILED jobs (last updated before `older_than`), oldest first."""
        failed = self.spool.list_jobs(JobStatus.FAILED, limit=10_000_000)
        return [j.id for j in failed if older_than is None or j.updated_at < older_than]

    def _act(self, ids: Iterable[int], action: Any) -> ActionReport:
        done: list[int] = []
        skipped: dict[int, str] = {}
        for job_id in dict.fromkeys(ids):
            if action(job_id):
                done.append(job_id)
                continue
            job = self.spool.get(job_id)
            skipped[job_id] = "no such job" if job is None else f"{job.status.value}, not FAILED"
        return ActionReport(tuple(done), skipped)

    def stats(self, now: float | None = None) -> QueueStats:
        now = time.time() if now is None else now
        end = (math.floor(now / MINUTE) + 1) * MINUTE
        start = end - SERIES_MINUTES * MINUTE
        received = [0] * SERIES_MINUTES
        delivered = [0] * SERIES_MINUTES
        latency_1h: list[float] = []
        latency_24h: list[float] = []
        for got, done in self.spool.timeline(min(start, now - DAY)):
            _count(received, got, start)
            if done is None:
                continue
            _count(delivered, done, start)
            if done >= now - DAY:
                latency_24h.append(max(done - got, 0.0))
                if done >= now - HOUR:
                    latency_1h.append(max(done - got, 0.0))
        per_ae = {
            ae: {state.value: n for state, n in states.items()}
            for ae, states in sorted(self.spool.counts_by_ae().items())
        }
        return QueueStats(
            {state.value: n for state, n in self.spool.counts().items()},
            tuple(received),
            tuple(delivered),
            percentile(latency_1h, 0.5),
            percentile(latency_1h, 0.95),
            percentile(latency_24h, 0.5),
            percentile(latency_24h, 0.95),
            per_ae,
            end,
        )

    def bundle(self, job_id: int) -> dict[str, Any] | None:
        """The Bundle the job's stored bytes map to now (as the sink would send it, before
        the fhir sink resolves references on the server); None for an unknown job,
        Unavailable when the bytes are gone (DONE) or do not map."""
        job = self.spool.get(job_id)
        if job is None:
            return None
        data = self._bytes(job)
        if self._convert is None:
            self._convert = make_converter(self.config.mapping_options)
        try:
            bundle = self._convert(data).bundle
        except (SrParseError, MappingError) as exc:
            raise Unavailable(f"job {job_id} does not map: {exc}") from None
        return as_sent(self.config, bundle)

    def _bytes(self, job: Job) -> bytes:
        try:
            return self.spool.read(job)
        except OSError:
            state = job.status.value
            raise Unavailable(f"job {job.id} is {state}: its received bytes are gone") from None

    def _header_from_bytes(self, job: Job) -> dict[str, str]:
        """A job not mapped yet: the facts read from its bytes now ({} when they are gone or
        unreadable)."""
        try:
            return header_facts(read_sr_bytes(self.spool.read(job)))
        except (OSError, SrParseError):
            return {}


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None for no values), rounded to milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return round(ordered[rank - 1], 3)


def _count(series: list[int], at: float, start: float) -> None:
    index = int((at - start) // MINUTE)
    if 0 <= index < len(series):
        series[index] += 1


def _json_object(text: str | None) -> dict[str, Any] | None:
    value = _json(text)
    return value if isinstance(value, dict) else None


def _json_list(text: str | None) -> list[Any]:
    value = _json(text)
    return value if isinstance(value, list) else []


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
