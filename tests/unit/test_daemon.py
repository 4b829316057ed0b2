"""The gateway in-process: receive -> spool -> workers -> outbox, recovery, supervision, stop."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.config import Config
from sr2fhir.daemon import Gateway
from sr2fhir.errors import SpoolError
from sr2fhir.mapping import MappingOptions
from sr2fhir.report_facts import MappedReport
from sr2fhir.spool import InstanceInfo, JobStatus, SpoolRole, open_spool
from sr2fhir.worker import Converter, make_converter
from tests.support.in_process import gateway_config
from tests.support.postgres import open_for
from tests.support.processes import wait_until
from tests.support.scu import send_files
from tests.support.serve import outbox_uids
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes, write_reports
from tests.support.sr.part10 import to_bytes


def test_received_reports_become_bundles_in_the_outbox(
    tmp_path: Path, spool_config: Config, started: Callable[[Gateway], Gateway]
) -> None:
    gateway = started(Gateway(gateway_config(tmp_path, spool=spool_config)))
    files = write_reports(tmp_path / "srs", 5)
    acked: list[str] = []
    send_files(gateway.port, files, acked)
    assert len(acked) == 5
    outbox = tmp_path / "data" / "outbox"
    wait_until(lambda: set(acked) <= outbox_uids(outbox), 60, "five Bundles")
    gateway.stop()
    spool = open_for(spool_config, SpoolRole.READER)
    assert spool.counts()[JobStatus.DONE] == 5
    spool.close()


def test_a_second_gateway_on_the_same_data_folder_is_refused(
    tmp_path: Path, started: Callable[[Gateway], Gateway]
) -> None:
    started(Gateway(gateway_config(tmp_path)))
    with pytest.raises(SpoolError, match="another sr2fhir gateway is using the data folder"):
        Gateway(gateway_config(tmp_path)).start()


def test_start_up_recovery_delivers_what_a_crash_left_behind(
    tmp_path: Path, started: Callable[[Gateway], Gateway]
) -> None:
    spool = open_spool(tmp_path / "data")
    locked_uid = str(benchmark_report(1).SOPInstanceUID)
    spool.receive(benchmark_report_bytes(1), InstanceInfo("1.2", locked_uid, "CT"))
    assert spool.jobs.claim("dead-node/w0.1") is not None  # the crash left it LOCKED
    orphan = benchmark_report(2)
    spool.files.put(to_bytes(orphan), time.time())  # ...and a file without a row
    spool.close()

    started(Gateway(gateway_config(tmp_path)))

    expected = {locked_uid, str(orphan.SOPInstanceUID)}
    wait_until(lambda: expected <= outbox_uids(tmp_path / "data" / "outbox"), 60, "both")


def crash_the_worker(options: MappingOptions) -> Converter:
    """A converter whose worker dies (SystemExit escapes the worker loop) on every report."""

    def convert(data: bytes) -> MappedReport:
        raise SystemExit("worker died")

    return convert


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_worker_is_replaced_and_a_job_that_kills_workers_ends_failed(
    tmp_path: Path, spool_config: Config, started: Callable[[Gateway], Gateway]
) -> None:
    config = gateway_config(tmp_path, spool=spool_config, count=1, max_attempts=2)
    gateway = started(Gateway(config, converter_factory=crash_the_worker))
    assert gateway.spool is not None and gateway.pool is not None
    job_id = gateway.spool.receive(benchmark_report_bytes(3), InstanceInfo("1", "2", "X"))

    def supervised_until_failed() -> bool:
        assert gateway.pool is not None and gateway.spool is not None
        gateway.pool.supervise()
        job = gateway.spool.get(job_id)
        return job is not None and job.status is JobStatus.FAILED

    wait_until(supervised_until_failed, 30, "the job to fail")
    job = gateway.spool.get(job_id)
    assert job is not None and job.last_error == "claimed 3 times without finishing"
    assert gateway.pool.slots[0].generation == 3


def test_stop_is_prompt_and_releases_nothing_it_acknowledged(
    tmp_path: Path, spool_config: Config, started: Callable[[Gateway], Gateway]
) -> None:
    config = gateway_config(tmp_path, spool=spool_config)
    gateway = started(Gateway(config, converter_factory=make_converter))
    acked: list[str] = []
    send_files(gateway.port, write_reports(tmp_path / "srs", 3), acked)
    began = time.monotonic()
    gateway.stop()
    assert time.monotonic() - began < 10
    spool = open_for(spool_config, SpoolRole.READER)
    jobs = spool.list_jobs()
    spool.close()
    assert {j.sop_instance_uid for j in jobs} == set(acked)
    assert all(j.status in (JobStatus.READY, JobStatus.DONE) for j in jobs)


def test_a_port_in_use_fails_the_start_and_leaves_nothing_running(
    tmp_path: Path, started: Callable[[Gateway], Gateway]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = gateway_config(tmp_path)
        config = dataclasses.replace(
            config, dicom=dataclasses.replace(config.dicom, port=taken.getsockname()[1])
        )
        gateway = Gateway(config)
        with pytest.raises(OSError):
            gateway.start()
    assert gateway.spool is None and gateway.pool is None
    started(Gateway(gateway_config(tmp_path)))  # the data folder lock was released


def first_numeric(ds: Any) -> Any:
    """The first NUM content item of the tree (depth first)."""
    for item in ds.ContentSequence:
        if item.ValueType == "NUM":
            return item
        if "ContentSequence" in item and (found := first_numeric(item)) is not None:
            return found
    return None


def test_a_resent_delivered_instance_is_delivered_again_in_place(
    tmp_path: Path, started: Callable[[Gateway], Gateway]
) -> None:
    gateway = started(Gateway(gateway_config(tmp_path)))
    folder = tmp_path / "srs"
    folder.mkdir()
    report = benchmark_report(7)
    uid = str(report.SOPInstanceUID)
    bundle = tmp_path / "data" / "outbox" / f"{uid}.json"
    (folder / "v1.dcm").write_bytes(to_bytes(report))
    send_files(gateway.port, [folder / "v1.dcm"], [])
    wait_until(bundle.exists, 60, "the first Bundle")
    assert "4242.5" not in bundle.read_text()

    measured = first_numeric(report).MeasuredValueSequence[0]
    measured.NumericValue = "4242.5"
    if "FloatingPointValue" in measured:  # highdicom writes both; the mapping prefers this
        measured.FloatingPointValue = 4242.5
    (folder / "v2.dcm").write_bytes(to_bytes(report))
    acked: list[str] = []
    send_files(gateway.port, [folder / "v2.dcm"], acked)

    assert acked == [uid]
    wait_until(lambda: "4242.5" in bundle.read_text(), 60, "the second version's Bundle")
    assert [p.name for p in bundle.parent.glob("*.json")] == [bundle.name]
    assert gateway.spool is not None
    versions = [j for j in gateway.spool.jobs.list_jobs() if j.sop_instance_uid == uid]
    assert len(versions) == 2
