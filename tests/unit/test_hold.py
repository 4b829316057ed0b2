"""HELD jobs (fhir.unresolved_reference hold) on the spool of each back end: the state and
when it began survive a restart, holds are tried again when due and do not use up the
retry budget, `queue release` lets a job go with what it has, the hold falls back after
fhir.hold_max; and the job tables of the previous version are upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.cli import main
from sr2fhir.config import Config, UnresolvedReference
from sr2fhir.delivery import Receipt
from sr2fhir.delivery.retry import HoldPolicy, RetryPolicy
from sr2fhir.errors import PermanentDeliveryError, ReferencesPendingError
from sr2fhir.ops import prometheus
from sr2fhir.ops.health import check_spool
from sr2fhir.ops.queue_view import read_queue
from sr2fhir.ops.stats import Snapshot
from sr2fhir.report_facts import MappedReport
from sr2fhir.spool import JobStatus, Spool
from sr2fhir.spool.pg_schema import STEPS
from sr2fhir.spool.sqlite_jobs import SCHEMA, SCHEMA_VERSION, SqliteJobStore
from sr2fhir.worker import Worker
from tests.support.fake_sinks import Delivery, FakeSink
from tests.support.postgres import (
    fresh_database,
    make_due,
    open_for,
    write_config,
)
from tests.support.postgres import (
    spool_config as pg_spool_config,
)
from tests.support.sr.part10 import tiny_sr_bytes as part10
from tests.support.sr.part10 import tiny_sr_info as info

WAITING = ReferencesPendingError(("Patient",))


@pytest.fixture
def spool(any_spool: Spool) -> Spool:
    return any_spool


def held(spool: Spool, uid: str, reason: str = str(WAITING)) -> int:
    """A job of `uid`, claimed once and HELD for an hour."""
    job_id = spool.receive(part10(uid), info(uid))
    job = spool.claim("n/w")
    assert job is not None and job.id == job_id
    spool.hold(job, reason, delay=3600)
    return job_id


# ---------------------------------------------------------------- the state in the spool


def test_a_held_job_waits_and_is_claimed_again_with_its_hold_start(
    spool: Spool, spool_config: Config
) -> None:
    job_id = held(spool, "40.1")
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.HELD
    assert job.held_since is not None and job.attempts == 0  # a hold is not an attempt
    assert job.last_error == "waiting for Patient: not found on the server yet"
    assert spool.counts()[JobStatus.HELD] == 1
    assert spool.claim("n/w") is None  # not due yet
    make_due(spool_config, job_id)
    again = spool.claim("n/w")
    assert again is not None and again.id == job_id and again.status is JobStatus.LOCKED
    assert again.held_since == job.held_since
    spool.hold(again, "still waiting", delay=3600)
    later = spool.get(job_id)
    assert later is not None and later.held_since == job.held_since  # the first hold counts


def test_held_jobs_are_counted_in_metrics_and_the_spool_stays_ready(spool: Spool) -> None:
    held(spool, "40.2")
    page = prometheus.render(Snapshot(), Snapshot(), read_queue(spool), 2, 2)
    assert 'sr2fhir_jobs{state="HELD"} 1' in page
    assert check_spool(spool).ok  # waiting for the EHR is not the gateway's fault


def test_held_jobs_survive_a_restart(spool_config: Config) -> None:
    first = open_for(spool_config)
    job_id = held(first, "41.1")
    first.close()
    second = open_for(spool_config)
    try:
        second.recover()
        job = second.get(job_id)
        assert job is not None and job.status is JobStatus.HELD
        make_due(spool_config, job_id)
        claimed = second.claim("n/w")
        assert claimed is not None and second.read(claimed) == part10("41.1")
    finally:
        second.close()


def test_release_makes_a_held_job_due_now_marked_to_go_with_what_it_has(spool: Spool) -> None:
    job_id = held(spool, "42.1")
    assert spool.release_held(job_id)
    claimed = spool.claim("n/w")
    assert claimed is not None and claimed.id == job_id and claimed.released
    assert not spool.release_held(job_id)  # LOCKED now
    other = spool.receive(part10("42.2"), info("42.2"))
    assert not spool.release_held(other)  # READY, never held
    assert not spool.release_held(999_999)


def test_a_newer_version_supersedes_a_job_being_held(spool: Spool) -> None:
    first = spool.receive(part10("43.1"), info("43.1"))
    job = spool.claim("n/w")
    assert job is not None
    spool.receive(part10("43.1"), info("43.1"))  # the modality sends it again meanwhile
    updated = spool.hold(job, str(WAITING), delay=3600)
    assert updated.status is JobStatus.DONE and updated.id == first


def test_queue_retry_starts_a_failed_job_with_no_hold(spool: Spool, spool_config: Config) -> None:
    job_id = held(spool, "44.1")
    make_due(spool_config, job_id)
    job = spool.claim("n/w")
    assert job is not None
    spool.give_up(job, "patient not found on the server")
    assert spool.retry(job_id)
    again = spool.get(job_id)
    assert again is not None and again.held_since is None and not again.released


# ---------------------------------------------------------------- the worker


class WaitingSink(FakeSink):
    """A FHIR server that has the Patient once `present`; answers as FhirSink does."""

    def __init__(self) -> None:
        self.present = False
        self.asked: list[UnresolvedReference | None] = []

    def answer(self, delivery: Delivery) -> Receipt:
        unresolved = delivery.unresolved
        self.asked.append(unresolved)
        if self.present or unresolved is UnresolvedReference.LOGICAL:
            return Receipt("server")
        if unresolved is UnresolvedReference.FAIL:
            raise PermanentDeliveryError("patient not found on the server")
        raise WAITING


def hold_worker(spool: Spool, sink: WaitingSink, now: list[float], **hold: Any) -> Worker:
    def convert(data: bytes) -> MappedReport:
        uid = data.decode("latin-1").rsplit("|", 1)[-1] if b"|" in data else ""
        return MappedReport({"identifier": {"value": f"urn:oid:{uid}"}, "entry": []})

    return Worker(
        spool,
        convert,
        sink,
        "n/w",
        RetryPolicy(max_attempts=2),
        hold=HoldPolicy(retry=60.0, max=600.0, **hold),
        clock=lambda: now[0],
    )


def bundle_of(spool: Spool, uid: str) -> None:
    """Spool a tiny instance whose `convert` Bundle names `uid` (see hold_worker)."""
    spool.receive(f"DICM|{uid}".encode(), info(uid))


def status(spool: Spool, job_id: int) -> JobStatus:
    job = spool.get(job_id)
    assert job is not None
    return job.status


def test_the_worker_holds_then_delivers_once_the_patient_is_there(
    spool: Spool, spool_config: Config
) -> None:
    sink, now = WaitingSink(), [1e9]
    bundle_of(spool, "45.1")
    run = hold_worker(spool, sink, now)
    for _ in range(3):  # more holds than the retry budget's two attempts
        assert run.run_once()
        assert status(spool, 1) is JobStatus.HELD
        make_due(spool_config, 1)
    sink.present = True
    assert run.run_once()
    assert status(spool, 1) is JobStatus.DONE
    assert sink.asked == [None, None, None, None]  # as configured each time: hold


@pytest.mark.parametrize(
    ("fallback", "final"),
    [(UnresolvedReference.LOGICAL, JobStatus.DONE), (UnresolvedReference.FAIL, JobStatus.FAILED)],
)
def test_the_hold_falls_back_after_hold_max(
    spool: Spool, spool_config: Config, fallback: UnresolvedReference, final: JobStatus
) -> None:
    sink, now = WaitingSink(), [0.0]
    bundle_of(spool, "46.1")
    run = hold_worker(spool, sink, now, fallback=fallback)
    run.run_once()
    job = spool.get(1)
    assert job is not None and job.status is JobStatus.HELD and job.held_since is not None
    now[0] = job.held_since + 599.0
    make_due(spool_config, 1)
    run.run_once()
    assert status(spool, 1) is JobStatus.HELD  # not yet
    now[0] = job.held_since + 600.0  # fhir.hold_max after the first hold
    make_due(spool_config, 1)
    run.run_once()
    assert status(spool, 1) is final
    assert sink.asked == [None, None, fallback]


def test_a_released_job_is_delivered_with_logical_references(
    spool: Spool, spool_config: Config
) -> None:
    sink, now = WaitingSink(), [1e9]
    bundle_of(spool, "47.1")
    run = hold_worker(spool, sink, now)
    run.run_once()
    assert spool.release_held(1)
    run.run_once()
    assert status(spool, 1) is JobStatus.DONE
    assert sink.asked == [None, UnresolvedReference.LOGICAL]


# ---------------------------------------------------------------- queue list --held, release


def queue(config: Config, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    path = write_config(config.spool.path.parent / "sr2fhir.yaml", config)
    code = main(["queue", "--config", str(path), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_queue_lists_held_jobs_and_releases_one(
    spool: Spool, spool_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = held(spool, "48.1")
    spool.receive(part10("48.2"), info("48.2"))
    code, out = queue(spool_config, capsys, "list", "--held")
    rows = out.splitlines()
    assert code == 0 and rows[0].split()[:4] == ["ID", "HELD", "SINCE", "NEXT"]
    assert len(rows) == 2 and rows[1].split()[0] == str(job_id)
    assert "48.1" in rows[1] and rows[1].endswith(
        "waiting for Patient: not found on the server yet"
    )
    code, out = queue(spool_config, capsys, "status")
    assert "HELD    1" in out
    code, out = queue(spool_config, capsys, "show", str(job_id))
    assert "state:            HELD" in out and "released:         no" in out
    code, out = queue(spool_config, capsys, "release", str(job_id))
    assert (
        code == 0 and out == f"job {job_id} released: delivered next with the references it has\n"
    )
    code, out = queue(spool_config, capsys, "release", str(job_id + 1))
    assert code == 1 and "is not HELD" in out
    code, out = queue(spool_config, capsys, "list", "--held")
    assert out.splitlines()[1:] == []


# ---------------------------------------------------------------- the job tables' step 2


def test_a_version_1_sqlite_job_table_is_upgraded_keeping_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute(
            "INSERT INTO jobs (status, sop_class_uid, sop_instance_uid, calling_ae, file_key,"
            " next_attempt_at, received_at, updated_at) VALUES ('READY', 'c', 'u', 'AE', 'k',"
            " 0, 0, 0)"
        )
        db.execute("PRAGMA user_version = 1")
    store = SqliteJobStore(path)
    try:
        assert store.version == SCHEMA_VERSION
        job = store.claim("n/w")
        assert job is not None and job.held_since is None and not job.released
        assert store.hold(job.id, "n/w", "waiting", 60).status is JobStatus.HELD
    finally:
        store.close()


def test_a_version_1_postgresql_database_is_upgraded_by_db_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    with fresh_database(upgrade=False) as url:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(STEPS[0])
            db.execute("INSERT INTO sr2fhir_schema (version) VALUES (1)")
        config = pg_spool_config(tmp_path / "data", "postgresql", url)
        path = write_config(tmp_path / "sr2fhir.yaml", config)
        assert main(["db", "--config", str(path), "upgrade"]) == 0
        assert f"from version 1 to {len(STEPS)}" in capsys.readouterr().out
        spool = open_for(config)
        try:
            job_id = held(spool, "49.1")
            job = spool.get(job_id)
            assert job is not None and job.status is JobStatus.HELD
        finally:
            spool.close()
