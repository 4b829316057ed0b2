"""A sender that calls the gateway by another AE title: accepted with one WARNING per calling
AE and a count in /metrics, or refused with dicom.require_called_ae."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pynetdicom import AE

from sr2fhir.config import DicomConfig
from sr2fhir.events import EventBus
from sr2fhir.ops import metrics
from sr2fhir.ops.metrics import MetricsRecorder
from sr2fhir.ops.stats import Stats
from sr2fhir.scp import StorageScp
from sr2fhir.spool import Spool
from tests.support.processes import LOOPBACK, wait_until
from tests.support.sr.benchmark import benchmark_report


@contextmanager
def serving(spool: Spool, stats: Stats, *, required: bool) -> Iterator[StorageScp]:
    config = DicomConfig(host=LOOPBACK, port=0, require_called_ae=required)
    scp = StorageScp(config, spool.receive, EventBus([MetricsRecorder(stats)]))
    scp.start()
    try:
        yield scp
    finally:
        scp.stop(grace=1)


def associate(port: int, calling: str, called: str) -> bool:
    ae = AE(ae_title=calling)
    ae.add_requested_context(benchmark_report(0).SOPClassUID)
    assoc = ae.associate(LOOPBACK, port, ae_title=called)
    established = bool(assoc.is_established)
    if established:
        assoc.release()
    return established


@pytest.fixture
def stats(tmp_path: Path) -> Stats:
    return Stats(tmp_path / "scp.json")


def test_a_wrong_called_ae_is_accepted_warned_once_per_caller_and_counted(
    spool: Spool, stats: Stats, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sr2fhir")
    with serving(spool, stats, required=False) as scp:
        assert associate(scp.port, "CT1", "OLDNAME")
        assert associate(scp.port, "CT1", "OLDNAME")
        assert associate(scp.port, "CT2", "ANY-SCP")
        assert associate(scp.port, "CT3", "SR2FHIR")  # ours: nothing said

        def counted() -> dict[tuple[str, ...], float]:
            return stats.snapshot().counter(metrics.WRONG_CALLED_AE)

        wait_until(lambda: sum(counted().values()) == 3, 10, "three counted")
    assert counted() == {("CT1", "OLDNAME"): 2, ("CT2", "ANY-SCP"): 1}
    warnings = [r.getMessage() for r in caplog.records if "calls '" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].startswith("association from CT1 at 127.0.0.1:")
    assert "calls 'OLDNAME', not SR2FHIR: accepted" in warnings[0]


def test_require_called_ae_rejects_every_such_association(
    spool: Spool, stats: Stats, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sr2fhir")
    with serving(spool, stats, required=True) as scp:
        assert not associate(scp.port, "CT1", "OLDNAME")
        assert not associate(scp.port, "CT1", "OLDNAME")
        assert associate(scp.port, "CT1", "SR2FHIR")
    rejected = [r.getMessage() for r in caplog.records if "rejected: it calls" in r.getMessage()]
    assert len(rejected) == 2 and "(dicom.require_called_ae)" in rejected[0]
