"""Workers: map and deliver, quarantine rejections, retry sink errors with backoff (on the
spool of each back end)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import Config
from sr2fhir.delivery import OutboxSink
from sr2fhir.delivery.retry import RetryPolicy
from sr2fhir.errors import (
    MappingError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from sr2fhir.mapping import MappingOptions
from sr2fhir.report_facts import MappedReport
from sr2fhir.spool import FolderSize, InstanceInfo, JobStatus, Spool
from sr2fhir.worker import Worker, make_converter
from tests.support.fake_sinks import ScriptedSink
from tests.support.in_process import worker
from tests.support.postgres import make_due
from tests.support.sr.bad_inputs import basic_text_sr_bytes, not_dicom_bytes
from tests.support.sr.benchmark import benchmark_report_bytes
from tests.support.sr.identity import COMPREHENSIVE_SR as SR
from tests.support.sr.identity import PATIENT_ID, PATIENT_NAME
from tests.support.sr.part10 import from_bytes


@pytest.fixture
def spool(any_spool: Spool) -> Spool:
    """The spool of each back end (tests/conftest.py)."""
    return any_spool


def enqueue(spool: Spool, index: int, data: bytes | None = None) -> tuple[int, str]:
    raw = data if data is not None else benchmark_report_bytes(index)
    uid = str(from_bytes(raw).SOPInstanceUID) if data is None else f"1.2.{index}"
    return spool.receive(raw, InstanceInfo(SR, uid, "MODALITY")), uid


def flaky_sink(outbox: Path, *errors: Exception) -> ScriptedSink:
    """Fails with the given errors first, then writes to the outbox."""
    return ScriptedSink(*errors, then=OutboxSink(outbox))


def test_a_report_is_mapped_delivered_and_done(spool: Spool, tmp_path: Path) -> None:
    job_id, uid = enqueue(spool, 1)
    outbox = tmp_path / "outbox"
    assert worker(spool, OutboxSink(outbox)).run_once()
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.DONE
    bundle = json.loads((outbox / f"{uid}.json").read_bytes())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    assert spool.sizes()["files"] == FolderSize(0, 0)


def test_a_rejected_sr_fails_at_once_is_quarantined_and_the_next_goes_on(
    spool: Spool, tmp_path: Path
) -> None:
    bad_id, _ = enqueue(spool, 0, basic_text_sr_bytes())
    good_id, good_uid = enqueue(spool, 2)
    outbox = tmp_path / "outbox"
    run = worker(spool, OutboxSink(outbox))
    assert run.run_once() and run.run_once()
    bad, good = spool.get(bad_id), spool.get(good_id)
    assert bad is not None and bad.status is JobStatus.FAILED and bad.attempts == 1
    assert bad.last_error is not None and bad.last_error.startswith("not a usable SR")
    assert spool.is_quarantined(bad)
    assert good is not None and good.status is JobStatus.DONE
    assert (outbox / f"{good_uid}.json").exists()


def test_a_mapping_error_names_the_content_item(spool: Spool, tmp_path: Path) -> None:
    job_id, _ = enqueue(spool, 3)

    def refuse(data: bytes) -> dict[str, Any]:
        raise MappingError("no value", item_path="1.4.2")

    worker(spool, OutboxSink(tmp_path / "o"), convert=refuse).run_once()
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.last_error == "cannot map at content item 1.4.2: no value"


def test_a_crashing_mapper_fails_only_that_job(spool: Spool, tmp_path: Path) -> None:
    first, _ = enqueue(spool, 4)
    second, _ = enqueue(spool, 5)
    calls: list[int] = []

    def crash_once(data: bytes) -> MappedReport:
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("bug")
        return make_converter(MappingOptions())(data)

    run = worker(spool, OutboxSink(tmp_path / "o"), convert=crash_once)
    run.run_once()
    run.run_once()
    statuses = [spool.get(i).status for i in (first, second)]  # type: ignore[union-attr]
    assert statuses == [JobStatus.FAILED, JobStatus.DONE]
    failed = spool.get(first)
    assert failed is not None and failed.last_error == "internal mapping error: ZeroDivisionError"


def test_sink_errors_retry_with_backoff_then_succeed(
    spool: Spool, spool_config: Config, tmp_path: Path
) -> None:
    job_id, uid = enqueue(spool, 6)
    sink = flaky_sink(tmp_path / "o", TransientDeliveryError("503 from server"))
    run = worker(spool, sink)
    assert run.run_once()
    waiting = spool.get(job_id)
    assert waiting is not None and waiting.status is JobStatus.READY
    assert waiting.last_error == "503 from server"
    assert waiting.next_attempt_at - waiting.updated_at == pytest.approx(0.75)  # 1 s, jittered
    assert not run.run_once()  # not due yet
    make_due(spool_config, job_id)  # time passes
    assert run.run_once()
    done = spool.get(job_id)
    assert done is not None and done.status is JobStatus.DONE
    assert (tmp_path / "o" / f"{uid}.json").exists()


def test_sink_errors_fail_the_job_after_the_attempt_limit(spool: Spool, tmp_path: Path) -> None:
    job_id, _ = enqueue(spool, 7)
    sink = flaky_sink(tmp_path / "o", *[OSError("disk gone")] * 5)
    policy = RetryPolicy(max_attempts=2, initial=0.001, cap=0.001)  # due again at once
    run = Worker(spool, make_converter(MappingOptions()), sink, "test/w0.1", policy)
    assert run.run_once()
    retrying = spool.get(job_id)
    assert retrying is not None and retrying.status is JobStatus.READY
    assert run.run_once()
    failed = spool.get(job_id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.last_error == "gave up after 2 attempts: OSError: disk gone"
    assert not spool.is_quarantined(failed), "kept in the spool for `queue retry`"
    assert spool.read(failed) == spool.read(retrying)


def test_a_permanent_refusal_fails_without_retry(spool: Spool, tmp_path: Path) -> None:
    job_id, _ = enqueue(spool, 8)
    sink = flaky_sink(tmp_path / "o", PermanentDeliveryError("422 unprocessable"))
    worker(spool, sink).run_once()
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.attempts == 1
    assert job.last_error == "delivery refused: 422 unprocessable"


def test_a_permanent_refusal_keeps_the_servers_operation_outcome(
    spool: Spool, tmp_path: Path
) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    job_id, _ = enqueue(spool, 9)
    sink = flaky_sink(tmp_path / "o", PermanentDeliveryError("HTTP 400", outcome, 400))
    worker(spool, sink).run_once()
    job = spool.get(job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.outcome is not None and json.loads(job.outcome) == outcome


def test_retry_after_is_honoured_and_backoff_is_capped() -> None:
    policy = RetryPolicy(max_attempts=20, initial=2.0, cap=60.0)
    assert policy.delay(1, None, lambda: 0.0) == 1.0
    assert policy.delay(1, None, lambda: 1.0) == 2.0
    assert policy.delay(3, None, lambda: 1.0) == 8.0
    assert policy.delay(15, None, lambda: 1.0) == 60.0
    assert policy.delay(1, 120.0, lambda: 0.5) == 120.0


def test_run_stops_when_asked_and_survives_bad_reports(spool: Spool, tmp_path: Path) -> None:
    enqueue(spool, 0, not_dicom_bytes())
    _, uid = enqueue(spool, 9)
    stop = threading.Event()
    outbox = tmp_path / "o"
    thread = threading.Thread(target=worker(spool, OutboxSink(outbox)).run, args=(stop, 0.01))
    thread.start()
    try:
        for _ in range(500):
            if (outbox / f"{uid}.json").exists():
                break
            stop.wait(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert spool.counts()[JobStatus.FAILED] == 1
    assert (outbox / f"{uid}.json").exists()


def test_logs_carry_ids_but_no_patient_data(
    spool: Spool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, uid = enqueue(spool, 10)
    enqueue(spool, 0, basic_text_sr_bytes())
    caplog.set_level(logging.DEBUG)
    run = worker(spool, OutboxSink(tmp_path / "o"))
    run.run_once()
    run.run_once()
    text = caplog.text
    assert f"sop_instance_uid={uid}" in text and "calling_ae=MODALITY" in text
    for phi in (PATIENT_NAME, PATIENT_ID, "DOE"):
        assert phi not in text
    assert "FAILED" in text  # the rejection was logged, without the dataset


def test_a_worker_whose_job_was_taken_over_drops_it_and_goes_on(
    spool: Spool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While this worker maps, its node's lease runs out and another node takes the job:
    the worker neither delivers nor pauses; it drops the job and takes the next one."""
    taken_id, taken_uid = enqueue(spool, 11)
    _, next_uid = enqueue(spool, 12)
    convert = make_converter(MappingOptions())
    stolen: list[int] = []

    def slow_then_taken(data: bytes) -> MappedReport:
        if not stolen:
            assert spool.release_worker("test/") == 1  # its lease ran out ...
            other = spool.claim("other:2/w0.1")  # ... and another node took the job
            assert other is not None
            stolen.append(other.id)
        return convert(data)

    outbox = tmp_path / "o"
    run = worker(spool, OutboxSink(outbox), convert=slow_then_taken)
    caplog.set_level(logging.WARNING, logger="sr2fhir.worker")
    assert run.run_once() and run.run_once()
    assert stolen == [taken_id]
    assert not (outbox / f"{taken_uid}.json").exists()  # not delivered by the loser
    assert (outbox / f"{next_uid}.json").exists()  # the next job went on
    held = spool.get(taken_id)
    assert held is not None and held.status is JobStatus.LOCKED
    assert held.locked_by == "other:2/w0.1"
    assert [r.message for r in caplog.records] == [
        f"job {taken_id} dropped by worker test/w0.1: job {taken_id} is no longer held by test/w0.1"
    ]
