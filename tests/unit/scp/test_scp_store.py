"""The Storage SCP in-process on port 0, driven by a pynetdicom SCU."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    Verification,
)

from sr2fhir.config import AllowedCaller, DicomConfig
from sr2fhir.scp import SR_STORAGE_CLASSES, StorageScp, build_ae
from sr2fhir.scp.handlers import CallerPolicy
from sr2fhir.spool import JobStatus, Spool
from tests.support.processes import LOOPBACK
from tests.support.scu import store_datasets
from tests.support.sr.benchmark import benchmark_report


def start_scp(spool: Spool, **settings: object) -> StorageScp:
    config = DicomConfig(host=LOOPBACK, port=0, **settings)  # type: ignore[arg-type]
    scp = StorageScp(config, spool.receive)
    scp.start()
    return scp


@pytest.fixture
def scp(spool: Spool) -> Iterator[StorageScp]:
    running = start_scp(spool)
    yield running
    running.stop(grace=1)


def in_syntax(ds: Dataset, syntax: str) -> Dataset:
    """The dataset re-encoded in `syntax`, as a sender would hold it."""
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def test_store_spools_the_instance_then_answers_success(scp: StorageScp, spool: Spool) -> None:
    ds = benchmark_report(1)
    assert store_datasets(scp.port, ds) == [0x0000]
    [job] = spool.jobs.list_jobs()
    assert job.status is JobStatus.READY
    assert job.sop_instance_uid == ds.SOPInstanceUID
    assert job.instance.sop_class_uid == ds.SOPClassUID
    assert job.instance.calling_ae == "PYSCU"
    stored = pydicom.dcmread(io.BytesIO(spool.read(job)))
    assert stored.file_meta.SourceApplicationEntityTitle == "PYSCU"
    assert stored.SOPInstanceUID == ds.SOPInstanceUID
    assert stored.ContentSequence == ds.ContentSequence


@pytest.mark.parametrize(
    "syntax",
    [
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
    ],
)
def test_every_negotiable_transfer_syntax_is_stored_as_received(
    scp: StorageScp, spool: Spool, syntax: str
) -> None:
    ds = in_syntax(benchmark_report(2), syntax)
    assert store_datasets(scp.port, ds, syntax=syntax) == [0x0000]
    [job] = spool.jobs.list_jobs()
    stored = pydicom.dcmread(io.BytesIO(spool.read(job)))
    assert stored.file_meta.TransferSyntaxUID == syntax
    assert stored.SOPInstanceUID == ds.SOPInstanceUID


@pytest.mark.parametrize("sop_class", SR_STORAGE_CLASSES)
def test_every_sr_storage_class_is_accepted(scp: StorageScp, spool: Spool, sop_class: str) -> None:
    ds = benchmark_report(3)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    assert store_datasets(scp.port, ds) == [0x0000]
    assert spool.jobs.list_jobs()[0].instance.sop_class_uid == sop_class


def test_a_ct_image_is_refused_at_negotiation(scp: StorageScp, spool: Spool) -> None:
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(Verification)
    assoc = ae.associate(LOOPBACK, scp.port, ae_title="SR2FHIR")
    try:
        assert assoc.is_established
        assert [cx.abstract_syntax for cx in assoc.accepted_contexts] == [Verification]
        assert [cx.abstract_syntax for cx in assoc.rejected_contexts] == [CTImageStorage]
    finally:
        assoc.release()
    assert spool.jobs.list_jobs() == []


def test_echo_answers_success(scp: StorageScp) -> None:
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate(LOOPBACK, scp.port, ae_title="SR2FHIR")
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def test_store_returns_a700_when_the_spool_cannot_write_and_a_resend_succeeds(
    scp: StorageScp, spool: Spool, tmp_path: Path
) -> None:
    files = tmp_path / "data" / "files"
    files.rename(tmp_path / "files.away")
    files.write_bytes(b"")  # a file where the spool folder should be: every write fails
    ds = benchmark_report(4)
    assert store_datasets(scp.port, ds) == [0xA700]
    assert spool.jobs.list_jobs() == []

    files.unlink()
    (tmp_path / "files.away").rename(files)
    assert store_datasets(scp.port, ds) == [0x0000]
    assert [j.sop_instance_uid for j in spool.jobs.list_jobs()] == [ds.SOPInstanceUID]


def test_a_resent_instance_replaces_the_queued_version(scp: StorageScp, spool: Spool) -> None:
    first, second = benchmark_report(5), benchmark_report(5)
    second.ContentSequence[0].TextValue = "corrected"  # not PHI, just a different version
    assert store_datasets(scp.port, first) == [0x0000]
    assert store_datasets(scp.port, second, calling="OTHERSCU") == [0x0000]
    [job] = spool.jobs.list_jobs()
    assert job.instance.calling_ae == "OTHERSCU"
    assert b"corrected" in spool.read(job)


def test_callers_outside_the_allow_list_are_rejected(spool: Spool) -> None:
    allowed = (AllowedCaller("GOOD"), AllowedCaller("REMOTE", ("10.0.0.0/8",)))
    scp = start_scp(spool, allowed_callers=allowed)
    try:
        for calling, expected in (("GOOD", True), ("EVIL", False), ("REMOTE", False)):
            ae = AE(ae_title=calling)
            ae.add_requested_context(Verification)
            assoc = ae.associate(LOOPBACK, scp.port, ae_title="SR2FHIR")
            assert assoc.is_established is expected, calling
            if expected:
                assoc.release()
            else:
                assert assoc.is_rejected, calling
    finally:
        scp.stop(grace=1)


def test_caller_policy_matches_titles_and_networks() -> None:
    policy = CallerPolicy(
        [AllowedCaller("PACS", ("192.168.1.0/24", "10.1.1.1")), AllowedCaller("CT1")]
    )
    assert policy.accepts("PACS", "192.168.1.77")
    assert policy.accepts("PACS ", "10.1.1.1")
    assert not policy.accepts("PACS", "192.168.2.1")
    assert policy.accepts("CT1", "8.8.8.8")
    assert not policy.accepts("CT2", "192.168.1.77")
    assert not CallerPolicy([]).enabled


def test_associations_beyond_the_limit_are_rejected(spool: Spool) -> None:
    scp = start_scp(spool, max_associations=1)
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(Verification)
    first = ae.associate(LOOPBACK, scp.port, ae_title="SR2FHIR")
    try:
        assert first.is_established
        second = ae.associate(LOOPBACK, scp.port, ae_title="SR2FHIR")
        assert second.is_rejected
    finally:
        first.release()
        scp.stop(grace=1)


def test_the_ae_takes_its_limits_and_timeouts_from_the_config() -> None:
    config = DicomConfig(
        ae_title="GW1",
        max_associations=3,
        max_pdu_size=65536,
        acse_timeout=7.0,
        dimse_timeout=8.0,
        network_timeout=9.0,
    )
    ae = build_ae(config)
    assert ae.ae_title == "GW1"
    assert ae.maximum_pdu_size == 65536
    # the SCP counts associations itself; pynetdicom's count includes pending connections
    assert ae.maximum_associations >= 3 + config.max_pending_connections
    assert (ae.acse_timeout, ae.dimse_timeout, ae.network_timeout) == (7.0, 8.0, 9.0)
    offered = {cx.abstract_syntax for cx in ae.supported_contexts}
    assert offered == {*SR_STORAGE_CLASSES, Verification}
