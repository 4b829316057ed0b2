"""The default retry window: a FHIR outage of hours is ridden out; a permanent one fails the
job after workers.retry_for (12 h), and `queue retry` gives it a whole window again. Time is
a fake clock: the spool's and the worker's waits are its."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.config import load_config
from sr2fhir.delivery import Receipt
from sr2fhir.delivery.retry import RetryPolicy
from sr2fhir.errors import TransientDeliveryError
from sr2fhir.report_facts import MappedReport
from sr2fhir.spool import InstanceInfo, JobStatus, Spool, SqliteSpool
from sr2fhir.spool.local_files import LocalFileStore
from sr2fhir.spool.space import SpaceGuard
from sr2fhir.spool.sqlite_jobs import SqliteJobStore
from sr2fhir.worker import Worker
from tests.support.fake_sinks import Delivery, FakeSink

HOUR = 3600.0
UID = "1.2.826.0.1.3680043.8.498.1"
SR = "1.2.840.10008.5.1.4.1.1.88.33"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class EhrDownUntil(FakeSink):
    """A FHIR server that answers 503 until `back_at` (fake time)."""

    def __init__(self, clock: Clock, back_at: float) -> None:
        self.clock, self.back_at, self.calls = clock, back_at, 0

    def answer(self, delivery: Delivery) -> Receipt:
        self.calls += 1
        if self.clock() < self.back_at:
            raise TransientDeliveryError("POST transaction: HTTP 503")
        return Receipt("https://ehr.example/fhir")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spool(tmp_path: Path, clock: Clock) -> Iterator[Spool]:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3", clock=clock, durable=False)
    opened = SqliteSpool(jobs, LocalFileStore(tmp_path), SpaceGuard(tmp_path))
    yield opened
    opened.close()


def default_policy() -> RetryPolicy:
    return RetryPolicy.from_config(load_config(env={}).workers)


def drain(spool: Spool, worker: Worker, clock: Clock, job_id: int) -> JobStatus:
    """Run the worker, moving the clock to each next attempt, until the job is settled."""
    while True:
        job = spool.get(job_id)
        assert job is not None
        if job.status in (JobStatus.DONE, JobStatus.FAILED):
            return job.status
        clock.now = max(clock.now, job.next_attempt_at)
        assert worker.run_once()


def make_worker(spool: Spool, sink: EhrDownUntil) -> Worker:
    def convert(data: bytes) -> MappedReport:
        return MappedReport({"resourceType": "Bundle", "identifier": {"value": f"urn:oid:{UID}"}})

    return Worker(spool, convert, sink, "w1", default_policy(), rng=lambda: 0.5)


def test_the_defaults_retry_for_twelve_hours_with_waits_of_at_most_ten_minutes() -> None:
    policy = default_policy()
    assert (policy.max_attempts, policy.window, policy.cap) == (None, 12 * HOUR, 600.0)
    waits = [policy.ceiling(n) / 2 for n in range(1, policy.attempts)]
    assert sum(waits) >= 12 * HOUR > sum(waits[:-1])  # the shortest waits the jitter draws


def test_an_eight_hour_outage_is_ridden_out(spool: Spool, clock: Clock) -> None:
    job_id = spool.receive(b"DICM-ish", InstanceInfo(SR, UID, "CT1"))
    start = clock.now
    sink = EhrDownUntil(clock, back_at=start + 8 * HOUR)

    assert drain(spool, make_worker(spool, sink), clock, job_id) is JobStatus.DONE
    assert start + 8 * HOUR <= clock.now <= start + 8 * HOUR + 600  # delivered within 10 min
    assert sink.calls > 8  # the old default (8 attempts) failed it after ~4 minutes


def test_an_outage_longer_than_the_window_fails_the_job_and_queue_retry_starts_a_new_one(
    spool: Spool, clock: Clock
) -> None:
    job_id = spool.receive(b"DICM-ish", InstanceInfo(SR, UID, "CT1"))
    start = clock.now
    sink = EhrDownUntil(clock, back_at=start + 100 * HOUR)
    worker = make_worker(spool, sink)

    assert drain(spool, worker, clock, job_id) is JobStatus.FAILED
    failed_at = clock.now
    assert 12 * HOUR <= failed_at - start <= 24 * HOUR
    job = spool.get(job_id)
    assert job is not None and job.last_error is not None
    assert job.last_error.startswith(f"gave up after {default_policy().attempts} attempts: ")

    assert spool.retry(job_id)  # sr2fhir queue retry ID
    assert drain(spool, worker, clock, job_id) is JobStatus.FAILED
    assert clock.now - failed_at >= 12 * HOUR


def test_max_attempts_still_bounds_the_attempts_when_set() -> None:
    config = load_config(env={"SR2FHIR_WORKERS_MAX_ATTEMPTS": "5"})
    assert RetryPolicy.from_config(config.workers).attempts == 5
    short = load_config(env={"SR2FHIR_WORKERS_RETRY_FOR": "60"})
    assert RetryPolicy.from_config(short.workers).attempts < 10


def test_short_waits_and_a_long_window_give_many_attempts_without_overflow() -> None:
    """backoff_max 1 s over 12 h: 86,000 attempts; the waits stay capped (2.0 ** 86000
    would overflow) and counting them is quick."""
    policy = RetryPolicy(None, initial=0.2, cap=1.0, window=12 * HOUR)
    assert policy.attempts > 86_000
    assert policy.delay(policy.attempts, None, lambda: 1.0) == 1.0
