"""Large reports never hold every worker: the job store keeps one worker for small ones
(hardening issue, point 8), and the newest version check every delivery runs (point 7)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sr2fhir.daemon import Gateway
from sr2fhir.mapping import MappingOptions
from sr2fhir.spool import InstanceInfo, JobStatus, LargeJobs
from sr2fhir.spool.sqlite_jobs import SqliteJobStore
from sr2fhir.worker import Converter, make_converter
from tests.support.in_process import gateway_config
from tests.support.processes import wait_until
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.part10 import from_bytes, to_bytes

SR = "1.2.840.10008.5.1.4.1.1.88.33"
LANE = LargeJobs(bytes=1000, workers=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteJobStore]:
    opened = SqliteJobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def enqueue(store: SqliteJobStore, name: str, size: int) -> int:
    """A job of its own instance whose file key is `name`."""
    uid = f"1.2.{int.from_bytes(name.encode(), 'big')}"
    return store.enqueue(InstanceInfo(SR, uid, "X"), name, size).job_id


def claimed_key(store: SqliteJobStore, worker: str, large: LargeJobs | None = LANE) -> str | None:
    job = store.claim(worker, large)
    return job.file_key if job is not None else None


def test_a_large_job_is_not_claimed_while_the_large_lane_is_full(store: SqliteJobStore) -> None:
    enqueue(store, "large-1", 5000)
    enqueue(store, "large-2", 5000)
    enqueue(store, "small", 1000)  # the threshold itself is small
    assert claimed_key(store, "w1") == "large-1"
    assert claimed_key(store, "w2") == "small"  # large-2 is older, but the lane is full
    assert claimed_key(store, "w3") is None
    first = store.get(1)
    assert first is not None
    store.mark_done(first.id)
    assert claimed_key(store, "w3") == "large-2"


def test_without_a_lane_jobs_are_claimed_oldest_first(store: SqliteJobStore) -> None:
    for name, size in (("large-1", 5000), ("large-2", 5000), ("small", 10)):
        enqueue(store, name, size)
    assert [claimed_key(store, w, None) for w in ("w1", "w2", "w3")] == [
        "large-1",
        "large-2",
        "small",
    ]


def test_the_lane_width_is_the_number_of_large_jobs_at_once(store: SqliteJobStore) -> None:
    for n in range(3):
        enqueue(store, f"large-{n}", 5000)
    lane = LargeJobs(bytes=1000, workers=2)
    assert [claimed_key(store, w, lane) for w in ("w1", "w2", "w3")] == ["large-0", "large-1", None]


def test_the_size_is_recorded_and_follows_a_replacing_version(store: SqliteJobStore) -> None:
    info = InstanceInfo(SR, "1.2.3", "X")
    job_id = store.enqueue(info, "v1", 10).job_id
    assert store.enqueue(info, "v2", 5000).job_id == job_id  # still READY: replaced
    job = store.get(job_id)
    assert job is not None and job.size == 5000 and job.file_key == "v2"


def test_supersede_if_newer_spares_the_newest_version(store: SqliteJobStore) -> None:
    info = InstanceInfo(SR, "1.2.3", "X")
    old = store.enqueue(info, "v1", 10).job_id
    claimed = store.claim("w")
    assert claimed is not None and claimed.id == old
    store.mark_failed(old, "outage")
    new = store.enqueue(info, "v2", 10).job_id
    assert store.supersede_if_newer(new) is None
    store.reset_to_ready(old, "v1")
    superseded = store.supersede_if_newer(old)
    assert superseded is not None and superseded.status is JobStatus.DONE
    assert superseded.last_error == f"superseded by job {new}"


# ---------------------------------------------------------------- in a running gateway


class HeldLarge:
    """Converter factory: large reports wait for `release` (a mapping that takes long)."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.release = threading.Event()
        self.started = 0
        self.lock = threading.Lock()

    def __call__(self, options: MappingOptions) -> Converter:
        convert = make_converter(options)

        def held(data: bytes) -> dict[str, Any]:
            if len(data) > self.threshold:
                with self.lock:
                    self.started += 1
                self.release.wait(60)
            return convert(data)

        return held


def test_small_reports_flow_while_large_ones_hold_workers(
    tmp_path: Path, started: Callable[[Gateway], Gateway]
) -> None:
    """Two workers, three large reports queued before five small ones: one worker maps the
    large ones one after the other, the other delivers the small ones meanwhile."""
    small = [benchmark_report_bytes(40 + n) for n in range(5)]
    large = [to_bytes(_padded(benchmark_report(50 + n))) for n in range(3)]
    threshold = max(map(len, small)) + 1000
    assert min(map(len, large)) > threshold
    held = HeldLarge(threshold)
    config = gateway_config(tmp_path, count=2, large_job_bytes=threshold)
    gateway = started(Gateway(config, converter_factory=held))
    assert gateway.spool is not None
    ids = {}
    for data in large + small:
        uid = str(from_bytes(data).SOPInstanceUID)
        ids[uid] = gateway.spool.receive(data, InstanceInfo(SR, uid, "X"))
    small_ids = [ids[str(from_bytes(d).SOPInstanceUID)] for d in small]

    def status(job_id: int) -> JobStatus:
        job = gateway.spool.jobs.get(job_id) if gateway.spool is not None else None
        assert job is not None
        return job.status

    try:
        wait_until(
            lambda: all(status(i) is JobStatus.DONE for i in small_ids), 60, "the small reports"
        )
        assert held.started == 1  # one large report in progress, the other two wait
    finally:
        held.release.set()
    large_ids = [ids[str(from_bytes(d).SOPInstanceUID)] for d in large]
    wait_until(lambda: all(status(i) is JobStatus.DONE for i in large_ids), 60, "the large ones")


def _padded(ds: Any) -> Any:
    """A benchmark report made larger by a long comment (same content tree)."""
    ds.ContentDescription = "x" * 4000
    return ds
