"""Large reports never hold every worker: the job store keeps one worker for small ones
(hardening issue, point 8), and the newest version check every delivery runs (point 7)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sr2fhir.config import Config
from sr2fhir.daemon import Gateway
from sr2fhir.mapping import MappingOptions
from sr2fhir.report_facts import MappedReport
from sr2fhir.spool import InstanceInfo, JobStatus, LargeJobs, LifecycleUpdate, Spool
from sr2fhir.worker import Converter, make_converter
from tests.support.in_process import gateway_config
from tests.support.processes import wait_until
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.part10 import from_bytes, to_bytes

SR = "1.2.840.10008.5.1.4.1.1.88.33"
LANE = LargeJobs(bytes=1000, workers=1)


def enqueue(spool: Spool, name: str, size: int, uid: str | None = None) -> int:
    """A job of `size` bytes of its own instance (or `uid`'s), named `name` by its AE title."""
    uid = uid or f"1.2.{int.from_bytes(name.encode(), 'big')}"
    return spool.receive(bytes(size), InstanceInfo(SR, uid, name))


def claimed(spool: Spool, worker: str, large: LargeJobs | None = LANE) -> str | None:
    """The name of the job `worker` claims (None: nothing)."""
    job = spool.claim(f"node:1/{worker}", large)
    return job.instance.calling_ae if job is not None else None


def test_a_large_job_is_not_claimed_while_the_large_lane_is_full(any_spool: Spool) -> None:
    spool = any_spool
    large_1 = enqueue(spool, "large-1", 5000)
    enqueue(spool, "large-2", 5000)
    enqueue(spool, "small", 1000)  # the threshold itself is small
    assert claimed(spool, "w1") == "large-1"
    assert claimed(spool, "w2") == "small"  # large-2 is older, but the lane is full
    assert claimed(spool, "w3") is None
    first = spool.get(large_1)
    assert first is not None
    spool.finish_report(first, LifecycleUpdate(first.sop_instance_uid))
    assert claimed(spool, "w3") == "large-2"


def test_the_lane_is_per_node(any_spool: Spool) -> None:
    """Each node keeps a worker for small reports: another node's large job takes no place
    in this node's lane."""
    enqueue(any_spool, "large-1", 5000)
    enqueue(any_spool, "large-2", 5000)
    assert any_spool.claim("a:1/w0.1", LANE) is not None
    job = any_spool.claim("b:2/w0.1", LANE)
    assert job is not None and job.instance.calling_ae == "large-2"


def test_without_a_lane_jobs_are_claimed_oldest_first(any_spool: Spool) -> None:
    for name, size in (("large-1", 5000), ("large-2", 5000), ("small", 10)):
        enqueue(any_spool, name, size)
    assert [claimed(any_spool, w, None) for w in ("w1", "w2", "w3")] == [
        "large-1",
        "large-2",
        "small",
    ]


def test_the_lane_width_is_the_number_of_large_jobs_at_once(any_spool: Spool) -> None:
    for n in range(3):
        enqueue(any_spool, f"large-{n}", 5000)
    lane = LargeJobs(bytes=1000, workers=2)
    assert [claimed(any_spool, w, lane) for w in ("w1", "w2", "w3")] == [
        "large-0",
        "large-1",
        None,
    ]


def test_the_size_is_recorded_and_follows_a_replacing_version(any_spool: Spool) -> None:
    job_id = enqueue(any_spool, "v1", 10, uid="1.2.3")
    assert enqueue(any_spool, "v2", 5000, uid="1.2.3") == job_id  # still READY: replaced
    job = any_spool.get(job_id)
    assert job is not None and job.size == 5000 and job.instance.calling_ae == "v2"


def test_supersede_if_newer_spares_the_newest_version(any_spool: Spool) -> None:
    spool = any_spool
    old = enqueue(spool, "v1", 10, uid="1.2.3")
    first = spool.claim("n:1/w")
    assert first is not None and first.id == old
    spool.give_up(first, "outage")
    new = enqueue(spool, "v2", 10, uid="1.2.3")
    newest = spool.claim("n:1/w")
    assert newest is not None and newest.id == new
    assert spool.supersede_if_newer(newest) is None
    spool.finish_report(newest, LifecycleUpdate(newest.sop_instance_uid))  # delivered
    assert spool.retry(old)  # `queue retry --failed`
    again = spool.claim("n:1/w")
    assert again is not None and again.id == old
    superseded = spool.supersede_if_newer(again)
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

        def held(data: bytes) -> MappedReport:
            if len(data) > self.threshold:
                with self.lock:
                    self.started += 1
                self.release.wait(60)
            return convert(data)

        return held


def test_small_reports_flow_while_large_ones_hold_workers(
    tmp_path: Path, spool_config: Config, started: Callable[[Gateway], Gateway]
) -> None:
    """Two workers, three large reports queued before five small ones: one worker maps the
    large ones one after the other, the other delivers the small ones meanwhile."""
    small = [benchmark_report_bytes(40 + n) for n in range(5)]
    large = [to_bytes(_padded(benchmark_report(50 + n))) for n in range(3)]
    threshold = max(map(len, small)) + 1000
    assert min(map(len, large)) > threshold
    held = HeldLarge(threshold)
    config = gateway_config(tmp_path, spool=spool_config, count=2, large_job_bytes=threshold)
    gateway = started(Gateway(config, converter_factory=held))
    assert gateway.spool is not None
    ids = {}
    for data in large + small:
        uid = str(from_bytes(data).SOPInstanceUID)
        ids[uid] = gateway.spool.receive(data, InstanceInfo(SR, uid, "X"))
    small_ids = [ids[str(from_bytes(d).SOPInstanceUID)] for d in small]

    def status(job_id: int) -> JobStatus:
        job = gateway.spool.get(job_id) if gateway.spool is not None else None
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
