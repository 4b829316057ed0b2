"""C-STOREs the SCP refuses before storing anything (hardening issue, points 4 and 8): an
Affected SOP Instance UID that is no UID, a data set that is another instance or class, one
without a SOP Instance UID, one over dicom.max_dataset_bytes. Over a real association."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from sr2fhir.config import DicomConfig
from sr2fhir.errors import StoreRefused
from sr2fhir.mapping.read import dataset_size
from sr2fhir.scp import StorageScp, status
from sr2fhir.scp.handlers import Receive, check_dataset, refusing_larger_than
from sr2fhir.scp.identity import MAX_ELEMENTS, UnreadableIdentity, read_identity
from sr2fhir.scp.part10 import part10_header
from sr2fhir.spool import InstanceInfo, Spool, open_spool
from sr2fhir.uids import is_valid_uid
from tests.support.scu import send_part10
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.hostile import with_affected_uid
from tests.support.sr.part10 import from_bytes, to_bytes

COMPREHENSIVE_3D = "1.2.840.10008.5.1.4.1.1.88.34"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    opened = open_spool(tmp_path / "data", db_timeout=0.5)
    yield opened
    opened.close()


@contextmanager
def serving(receive: Receive) -> Iterator[StorageScp]:
    """A Storage SCP on a free port storing through `receive`, stopped on the way out."""
    scp = StorageScp(DicomConfig(host="127.0.0.1", port=0), receive)
    scp.start()
    try:
        yield scp
    finally:
        scp.stop(grace=1)


@pytest.fixture
def scp(spool: Spool) -> Iterator[StorageScp]:
    with serving(spool.receive) as started:
        yield started


def send(scp: StorageScp, tmp_path: Path, data: bytes) -> tuple[int, str]:
    path = tmp_path / "sent.dcm"
    path.write_bytes(data)
    answer = send_part10(scp.port, path)
    return int(answer.Status), str(answer.get("ErrorComment", ""))


def test_a_data_set_of_another_instance_is_refused_c010(
    scp: StorageScp, spool: Spool, tmp_path: Path
) -> None:
    other = str(benchmark_report(2).SOPInstanceUID)
    data = with_affected_uid(benchmark_report_bytes(1), other)
    assert send(scp, tmp_path, data) == (
        status.INSTANCE_MISMATCH,
        "SOP Instance UID (0008,0018) is not the Affected one",
    )
    assert spool.jobs.list_jobs() == []
    assert list((tmp_path / "data" / "files").iterdir()) == []


@pytest.mark.parametrize("affected", ["1.2.3/../../x", "1.2.3.", "1..2", "1.2.3 ", "1.2.x"])
def test_an_affected_uid_that_is_no_uid_is_refused_c000(
    scp: StorageScp, spool: Spool, tmp_path: Path, affected: str
) -> None:
    data = with_affected_uid(benchmark_report_bytes(1), affected)
    code, comment = send(scp, tmp_path, data)
    if affected == "1.2.3 ":  # pynetdicom strips the padding: then it is another instance
        assert code == status.INSTANCE_MISMATCH
    else:
        assert (code, comment) == (
            status.CANNOT_UNDERSTAND,
            "Affected SOP Instance UID is not a valid UID",
        )
    assert spool.jobs.list_jobs() == []


def test_a_data_set_of_another_sop_class_is_refused_a900(
    scp: StorageScp, spool: Spool, tmp_path: Path
) -> None:
    data = benchmark_report_bytes(1)
    ds = from_bytes(data)
    header = part10_header(
        COMPREHENSIVE_3D, str(ds.SOPInstanceUID), ExplicitVRLittleEndian, "ATTACKER"
    )
    assert send(scp, tmp_path, header + data[len(data) - dataset_size(data) :]) == (
        status.CLASS_MISMATCH,
        "SOP Class UID (0008,0016) is not the Affected one",
    )
    assert spool.jobs.list_jobs() == []


def test_a_data_set_without_sop_instance_uid_is_refused_c011(
    scp: StorageScp, spool: Spool, tmp_path: Path
) -> None:
    ds = benchmark_report(1)
    uid = str(ds.SOPInstanceUID)
    del ds.SOPInstanceUID
    data = with_affected_uid(to_bytes(ds), uid)
    assert send(scp, tmp_path, data) == (
        status.NO_INSTANCE_UID,
        "data set has no SOP Instance UID (0008,0018)",
    )
    assert spool.jobs.list_jobs() == []


def test_a_data_set_over_the_limit_is_refused_c012_and_one_at_it_is_stored(
    spool: Spool, tmp_path: Path
) -> None:
    data = benchmark_report_bytes(1)
    size = dataset_size(data)
    with serving(refusing_larger_than(size - 1, spool.receive)) as scp:
        assert send(scp, tmp_path, data) == (
            status.TOO_LARGE,
            f"data set of {size} bytes > dicom.max_dataset_bytes {size - 1}",
        )
    assert spool.jobs.list_jobs() == []
    with serving(refusing_larger_than(size, spool.receive)) as scp:
        assert send(scp, tmp_path, data)[0] == status.SUCCESS
    assert len(spool.jobs.list_jobs()) == 1


# ---------------------------------------------------------------- reading the identity


def test_the_identity_is_read_from_every_transfer_syntax() -> None:
    """The accepted syntaxes themselves go over the wire in test_scp_store.py; deflated data
    is read from a bounded inflated prefix."""
    data = benchmark_report_bytes(1)
    ds = from_bytes(data)
    found = read_identity(data[len(data) - dataset_size(data) :], ExplicitVRLittleEndian)
    assert (found.sop_class_uid, found.sop_instance_uid) == (ds.SOPClassUID, ds.SOPInstanceUID)
    with pytest.raises(UnreadableIdentity, match="not deflated data"):
        read_identity(b"\x00" * 64, DeflatedExplicitVRLittleEndian)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x08\x00\x16\x00UI\xff\xff" + b"1.2" * 10,  # a length past the end
        b"\x08\x00\x18\x00",  # cut inside the element header
        b"not DICOM at all",
        b"",
    ],
)
def test_garbage_instead_of_a_data_set_is_refused_c011(garbage: bytes) -> None:
    info = InstanceInfo("1.2.840.10008.5.1.4.1.1.88.33", "1.2.3", "X")
    with pytest.raises(StoreRefused) as caught:
        check_dataset(info, garbage, ExplicitVRLittleEndian)
    assert caught.value.status == status.NO_INSTANCE_UID


UIDS = {
    "1.2.840.10008.1.2": True,
    "2.25.0123": True,  # a leading zero: seen in the field, harmless in a file name
    "9" * 64: True,
    "9" * 65: False,
    "1.2.3\n": False,
    "": False,
    "1.2.3/../../x": False,
    "1.2.3.": False,
}


@pytest.mark.parametrize(("uid", "valid"), UIDS.items())
def test_uids_are_digits_and_dots_of_at_most_64_characters(uid: str, valid: bool) -> None:
    assert is_valid_uid(uid) is valid


def test_a_flood_of_elements_before_the_sop_instance_uid_is_unreadable() -> None:
    element = struct.pack("<HH", 0x0008, 0x0012) + b"DA" + struct.pack("<H", 8) + b"20260101"
    with pytest.raises(UnreadableIdentity, match=f"more than {MAX_ELEMENTS} elements"):
        read_identity(element * (MAX_ELEMENTS + 1), ExplicitVRLittleEndian)
