"""The SCP tells its event listeners of association results and of each instance stored
or refused (0xA700), from handlers it registers itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pynetdicom import AE

from sr2fhir.config import AllowedCaller, DicomConfig
from sr2fhir.errors import SpoolError
from sr2fhir.events import Event, EventBus, GatewayEvent
from sr2fhir.scp import StorageScp, status
from sr2fhir.scp.handlers import Receive
from sr2fhir.spool import InstanceInfo, Spool
from tests.support.processes import LOOPBACK, wait_until
from tests.support.scu import store_datasets
from tests.support.sr.benchmark import benchmark_report


class Heard:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def kinds(self) -> list[GatewayEvent]:
        with self._lock:
            return [event.kind for event in self.events]

    def first(self, kind: GatewayEvent) -> Event:
        return next(event for event in self.events if event.kind is kind)


@pytest.fixture
def heard() -> Heard:
    return Heard()


@contextmanager
def serving(receive: Receive, heard: Heard) -> Iterator[StorageScp]:
    config = DicomConfig(host=LOOPBACK, port=0, allowed_callers=(AllowedCaller("PYSCU"),))
    scp = StorageScp(config, receive, EventBus([heard]))
    scp.start()
    try:
        yield scp
    finally:
        scp.stop(grace=1)


def test_associations_and_stored_instances_are_told(spool: Spool, heard: Heard) -> None:
    ds = benchmark_report(0)
    with serving(spool.receive, heard) as scp:
        assert store_datasets(scp.port, ds) == [status.SUCCESS]
        stranger = AE(ae_title="STRANGER")
        stranger.add_requested_context(ds.SOPClassUID)
        assert not stranger.associate(LOOPBACK, scp.port, ae_title="SR2FHIR").is_established
        wait_until(lambda: len(heard.kinds()) == 3, 10, "three events")
    assert heard.kinds() == [
        GatewayEvent.ASSOCIATION_ACCEPTED,
        GatewayEvent.INSTANCE_STORED,
        GatewayEvent.ASSOCIATION_REJECTED,
    ]
    stored = heard.first(GatewayEvent.INSTANCE_STORED).fields
    assert stored == {
        "job_id": 1,
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "sop_class_uid": str(ds.SOPClassUID),
        "calling_ae": "PYSCU",
    }
    rejected = heard.first(GatewayEvent.ASSOCIATION_REJECTED).fields
    assert (rejected["calling_ae"], rejected["called_ae"]) == ("STRANGER", "SR2FHIR")


def test_an_instance_the_spool_cannot_store_is_told_as_refused(heard: Heard) -> None:
    def full(data: bytes, info: InstanceInfo) -> int:
        raise SpoolError("disk full")

    ds = benchmark_report(1)
    with serving(full, heard) as scp:
        assert store_datasets(scp.port, ds) == [status.OUT_OF_RESOURCES]
    refused = heard.first(GatewayEvent.INSTANCE_REFUSED).fields
    assert (refused["sop_instance_uid"], refused["calling_ae"]) == (str(ds.SOPInstanceUID), "PYSCU")
    assert GatewayEvent.INSTANCE_STORED not in heard.kinds()
