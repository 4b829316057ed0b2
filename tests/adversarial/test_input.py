"""The hardening issue's input attacks (points 4-9) against a real `python -m sr2fhir serve`.

Each test sends what broke the gateway before, the way FIELD-NOTES says to make it, and
checks what the operator and the sender see: the C-STORE status, the job's state and
reason, the outbox or FHIR server, and that the next report still flows.
"""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.scp import status
from sr2fhir.spool import Job, JobStatus, open_spool
from tests.support.fhir_stub import running_stub_fhir
from tests.support.processes import wait_until
from tests.support.scu import send_files, send_part10
from tests.support.serve import GatewayProcess, outbox_uids, running_gateway
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.hostile import (
    deep_report_bytes,
    first_num,
    large_report,
    num_value_report,
    with_affected_uid,
)
from tests.support.sr.part10 import from_bytes, to_bytes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway with the default configuration for the attacks that need nothing else
    (each uses reports of its own)."""
    with running_gateway(tmp_path_factory.mktemp("default") / "data") as running:
        yield running


def write(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def uid_of(data: bytes) -> str:
    return str(from_bytes(data).SOPInstanceUID)


def delivered(gateway: GatewayProcess, folder: Path, data: bytes) -> Path:
    """Send one report the ordinary way (pydicom decodes and re-encodes it); its Bundle."""
    uid = uid_of(data)
    acked: list[str] = []
    send_files(gateway.port, [write(folder, f"{uid}.dcm", data)], acked)
    assert acked == [uid]
    wait_until(lambda: uid in outbox_uids(gateway.outbox), 60, f"the Bundle of {uid}")
    return gateway.outbox / f"{uid}.json"


def jobs_of(data_dir: Path, uid: str) -> list[Job]:
    spool = open_spool(data_dir)
    try:
        return [job for job in spool.jobs.list_jobs(limit=10_000) if job.sop_instance_uid == uid]
    finally:
        spool.close()


def settled(data_dir: Path, uid: str, state: JobStatus) -> Job:
    """The instance's (latest) job once it is in `state`."""

    def done() -> Job | None:
        jobs = jobs_of(data_dir, uid)
        return jobs[-1] if jobs and jobs[-1].status is state else None

    return wait_until(done, 90, f"the job of {uid} to be {state.value}")


def strict_json(data: bytes) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(data, parse_constant=refuse)


# ---------------------------------------------------------------- point 4


def test_a_data_set_of_another_instance_is_refused_and_replaces_nothing(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    victim, intruder = benchmark_report_bytes(101), benchmark_report_bytes(102)
    bundle = delivered(gateway, tmp_path, victim)
    before = bundle.read_bytes()

    forged = write(tmp_path, "forged.dcm", with_affected_uid(intruder, uid_of(victim)))
    answer = send_part10(gateway.port, forged)
    assert answer.Status == status.INSTANCE_MISMATCH
    assert answer.ErrorComment == "SOP Instance UID (0008,0018) is not the Affected one"

    delivered(gateway, tmp_path, benchmark_report_bytes(103))  # the queue flows on
    assert bundle.read_bytes() == before
    assert uid_of(intruder) not in outbox_uids(gateway.outbox)
    assert [j.status for j in jobs_of(gateway.data_dir, uid_of(victim))] == [JobStatus.DONE]
    wait_until(lambda: "C-STORE refused (0xC010)" in gateway.log_text(), 10, "the log line")


def test_a_path_like_affected_uid_is_refused_up_front(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    report = benchmark_report_bytes(104)
    forged = write(tmp_path, "path.dcm", with_affected_uid(report, "1.2.3/../../x"))
    answer = send_part10(gateway.port, forged)
    assert answer.Status == status.CANNOT_UNDERSTAND
    assert answer.ErrorComment == "Affected SOP Instance UID is not a valid UID"
    assert jobs_of(gateway.data_dir, "1.2.3/../../x") == []
    assert jobs_of(gateway.data_dir, uid_of(report)) == []
    wait_until(
        lambda: (
            "C-STORE refused (0xC000): Affected SOP Instance UID is not a valid UID: "
            "sop_instance_uid='1.2.3/../../x'" in gateway.log_text()
        ),
        10,
        "the log line",
    )


# ---------------------------------------------------------------- point 5


@pytest.mark.parametrize(
    ("value", "reason"), [(math.inf, "positive-infinity"), (-math.inf, "negative-infinity")]
)
def test_a_num_of_infinity_is_delivered_as_valid_json(
    gateway: GatewayProcess, tmp_path: Path, value: float, reason: str
) -> None:
    ds = num_value_report(105 if value > 0 else 106, value)
    assert math.isinf(first_num(ds).MeasuredValueSequence[0].FloatingPointValue)
    bundle = delivered(gateway, tmp_path, to_bytes(ds)).read_bytes()
    strict_json(bundle)
    assert b"Infinity" not in bundle and f'"valueCode":"{reason}"'.encode() in bundle


# ---------------------------------------------------------------- point 9


def test_a_content_tree_2000_deep_is_a_clear_parse_error(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    data = deep_report_bytes(107, 2000)
    assert send_part10(gateway.port, write(tmp_path, "deep.dcm", data)).Status == status.SUCCESS
    job = settled(gateway.data_dir, uid_of(benchmark_report_bytes(107)), JobStatus.FAILED)
    assert job.last_error == "not a usable SR: sequences nested deeper than 64 levels"
    assert job.file_key.startswith("quarantine/")
    delivered(gateway, tmp_path, benchmark_report_bytes(108))


def worker_pids(gateway: GatewayProcess) -> list[int]:
    """The gateway's worker processes (multiprocessing spawn children, not its tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status_text = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status_text.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == gateway.proc.pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def test_a_killed_worker_leaves_no_temp_files_behind(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "data") as gateway:
        workers = wait_until(lambda: worker_pids(gateway), 30, "the worker processes")
        victim = workers[0]
        gateway.outbox.mkdir(parents=True, exist_ok=True)
        orphan = gateway.outbox / f".1.2.3.json.{victim}.0badc0de.tmp"  # as a kill mid-write
        in_flight = gateway.outbox / f".1.2.4.json.{gateway.proc.pid}.0badc0de.tmp"
        for path in (orphan, in_flight):
            path.write_text('{"resourceType": "Bundle", "ent')
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not orphan.exists(), 30, "the dead worker's temp file to go")
        assert in_flight.exists()  # another writer's file is not touched
        wait_until(lambda: len(worker_pids(gateway)) == len(workers), 30, "a new worker")
        delivered(gateway, tmp_path, benchmark_report_bytes(109))
        assert "worker 0 died" in gateway.log_text() or "worker 1 died" in gateway.log_text()


# ---------------------------------------------------------------- point 6


def test_a_fhir_server_answering_a_json_string_fails_the_job_once_keeping_the_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = benchmark_report_bytes(110)
    with running_stub_fhir() as stub:
        stub.answer_next(200, '"OK"')
        env = {"SR2FHIR_DELIVERY_SINK": "fhir", "SR2FHIR_FHIR_BASE_URL": stub.base}
        with running_gateway(tmp_path / "data", env=env) as gateway:
            acked: list[str] = []
            send_files(gateway.port, [write(tmp_path, "sr.dcm", report)], acked)
            job = settled(gateway.data_dir, uid_of(report), JobStatus.FAILED)
            assert job.attempts == 1 and stub.posts == 1  # no crash loop, no retry storm
            assert job.last_error == (
                "delivery refused: transaction: the answer is a JSON string, not a resource"
            )
            assert main(["queue", "--data-dir", str(gateway.data_dir), "show", str(job.id)]) == 0
            shown = capsys.readouterr().out
            assert 'answer (what the FHIR server sent, as received):\n"OK"' in shown
            second = benchmark_report_bytes(111)  # the next one is delivered
            send_files(gateway.port, [write(tmp_path, "next.dcm", second)], acked)
            settled(gateway.data_dir, uid_of(second), JobStatus.DONE)
            assert "died" not in gateway.log_text()


# ---------------------------------------------------------------- point 7


def test_queue_retry_never_delivers_an_older_version_over_a_newer_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Version A FAILS while the outbox is unusable, the corrected B is delivered, then
    `queue retry --failed` runs A again: the outbox keeps B."""
    outbox = tmp_path / "outbox"
    args = ("--outbox", str(outbox))
    env = {"SR2FHIR_WORKERS_MAX_ATTEMPTS": "1"}
    ds = benchmark_report(112)
    uid = str(ds.SOPInstanceUID)
    measured = first_num(ds).MeasuredValueSequence[0]
    versions = {}
    for name, value in (("a", 1111.5), ("b", 2222.5)):
        measured.NumericValue, measured.FloatingPointValue = str(value), value
        versions[name] = write(tmp_path / name, "sr.dcm", to_bytes(ds))
    with running_gateway(tmp_path / "data", *args, env=env) as gateway:
        wait_until(lambda: gateway.log_text().count(" started (pid ") == 2, 60, "both workers")
        outbox.rename(tmp_path / "outbox-away")  # after the workers made their sinks
        outbox.write_text("not a folder: the outage")
        send_files(gateway.port, [versions["a"]], [])
        old = settled(gateway.data_dir, uid, JobStatus.FAILED)
        outbox.unlink()
        (tmp_path / "outbox-away").rename(outbox)

        send_files(gateway.port, [versions["b"]], [])
        new = settled(gateway.data_dir, uid, JobStatus.DONE)
        bundle = outbox / f"{uid}.json"
        assert new.id != old.id and "2222.5" in bundle.read_text()

        assert main(["queue", "--data-dir", str(gateway.data_dir), "retry", "--failed"]) == 0
        assert "1 job(s) queued again" in capsys.readouterr().out

        def retried() -> Job | None:
            job = next(j for j in jobs_of(gateway.data_dir, uid) if j.id == old.id)
            return job if job.status is JobStatus.DONE else None

        assert wait_until(retried, 60, "the retried job").last_error == (
            f"superseded by job {new.id}"
        )
        assert "2222.5" in bundle.read_text() and "1111.5" not in bundle.read_text()


# ---------------------------------------------------------------- point 8


def test_the_limits_refuse_or_fail_with_a_clear_reason(tmp_path: Path) -> None:
    env = {
        "SR2FHIR_DICOM_MAX_DATASET_BYTES": "30000",
        "SR2FHIR_MAPPING_MAX_CONTENT_ITEMS": "100",
        "SR2FHIR_MAPPING_MAX_BUNDLE_ENTRIES": "60",
    }
    too_big = to_bytes(large_report(113, 10))  # 45 KB, 207 items, 241 entries
    many_items = to_bytes(large_report(114, 5))  # 24 KB, 107 items
    many_entries = to_bytes(large_report(115, 3))  # 16 KB, 67 items, 73 entries
    with running_gateway(tmp_path / "data", env=env) as gateway:
        answer = send_part10(gateway.port, write(tmp_path, "big.dcm", too_big))
        assert answer.Status == status.TOO_LARGE
        assert answer.ErrorComment.startswith("data set of ")
        assert answer.ErrorComment.endswith(" bytes > dicom.max_dataset_bytes 30000")
        assert jobs_of(gateway.data_dir, uid_of(too_big)) == []

        acked: list[str] = []
        folder = tmp_path / "limits"
        paths = [write(folder, f"{n}.dcm", d) for n, d in enumerate((many_items, many_entries))]
        send_files(gateway.port, paths, acked)
        items = settled(gateway.data_dir, uid_of(many_items), JobStatus.FAILED)
        assert items.last_error is not None and items.last_error.endswith(
            ": more than 100 content items (mapping.max_content_items)"
        )
        entries = settled(gateway.data_dir, uid_of(many_entries), JobStatus.FAILED)
        assert entries.last_error == (
            "cannot map: the Bundle would have more than 60 entries (mapping.max_bundle_entries)"
        )
        delivered(gateway, tmp_path, benchmark_report_bytes(116))  # 49 entries


def test_small_reports_are_not_stuck_behind_large_ones(tmp_path: Path) -> None:
    """Two workers, two large reports (~2.5 MB, seconds of mapping each) then five small
    ones: the small Bundles are all written before either large one."""
    large = [to_bytes(large_report(117 + n, 600)) for n in range(2)]
    small = [benchmark_report_bytes(120 + n) for n in range(5)]
    env = {"SR2FHIR_WORKERS_COUNT": "2", "SR2FHIR_WORKERS_LARGE_JOB_BYTES": "1000000"}
    with running_gateway(tmp_path / "data", env=env) as gateway:
        files = [write(tmp_path / "in", f"{n:02d}.dcm", d) for n, d in enumerate(large + small)]
        acked: list[str] = []
        send_files(gateway.port, files, acked)
        assert len(acked) == len(files)
        small_uids, large_uids = {uid_of(d) for d in small}, {uid_of(d) for d in large}
        wait_until(lambda: small_uids <= outbox_uids(gateway.outbox), 120, "the small Bundles")
        assert not large_uids & outbox_uids(gateway.outbox)
        wait_until(lambda: large_uids <= outbox_uids(gateway.outbox), 180, "the large Bundles")
