"""Hostile inputs, built in code: the attacks of the hardening issue, for the adversarial
suite (a real `sr2fhir serve`) and for the unit tests that pin each defence.

Every builder starts from a benchmark report (tests/support/sr/benchmark.py), so the rest
of the report is a valid TID 1500 Measurement Report and only the attack differs. Sending
them as they are: tests/support/scu.py (send_part10).
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset

from sr2fhir.mapping.read import dataset_size
from sr2fhir.scp.part10 import part10_header
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.part10 import from_bytes
from tests.support.sr.tree import imaging_measurements, iter_items

# ---------------------------------------------------------------- NUM values


def first_num(ds: Dataset) -> Dataset:
    """The first NUM content item, depth first."""
    return next(item for _, item in iter_items(ds) if item.get("ValueType") == "NUM")


def num_value_report(index: int, value: float) -> Dataset:
    """Benchmark report `index` whose first NUM carries `value` as its Floating Point Value
    (FD, which the mapping prefers): +inf, -inf and NaN are what senders have encoded."""
    ds = benchmark_report(index)
    first_num(ds).MeasuredValueSequence[0].FloatingPointValue = value
    return ds


# ---------------------------------------------------------------- size


def large_report(index: int, groups: int) -> Dataset:
    """Benchmark report `index` with `groups` measurement groups (copies of its two):
    ~4,250 bytes and ~20 content items per group; mapping costs ~5 ms per group here."""
    ds = benchmark_report(index)
    measurements = imaging_measurements(ds)
    originals = list(measurements.ContentSequence)
    measurements.ContentSequence = [originals[n % len(originals)] for n in range(groups)]
    return ds


# ---------------------------------------------------------------- depth

_ITEM = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"  # (FFFE,E000), undefined length
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _short(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element with a 2-byte length (value padded to even)."""
    if len(value) % 2:
        value += b"\x00" if vr == b"UI" else b" "
    return struct.pack("<HH", group, element) + vr + struct.pack("<H", len(value)) + value


def _sequence_header(element: int, length: int) -> bytes:
    return struct.pack("<HH", 0x0040, element) + b"SQ\x00\x00" + struct.pack("<L", length)


def _container_head() -> bytes:
    """A CONTAINS CONTAINER item's elements before its Content Sequence (PS3.3 C.17.3)."""
    code = (
        _short(0x0008, 0x0100, b"SH", b"125007")
        + _short(0x0008, 0x0102, b"SH", b"DCM")
        + _short(0x0008, 0x0104, b"LO", b"Measurement Group")
    )
    code_item = b"\xfe\xff\x00\xe0" + struct.pack("<L", len(code)) + code
    return (
        _short(0x0040, 0xA010, b"CS", b"CONTAINS")
        + _short(0x0040, 0xA040, b"CS", b"CONTAINER")
        + _sequence_header(0xA043, len(code_item))
        + code_item
        + _short(0x0040, 0xA050, b"CS", b"SEPARATE")
    )


def nested_containers(depth: int) -> bytes:
    """One content item holding a chain of `depth` CONTAINERs, each the only child of the
    one above: undefined lengths throughout, so no writer has to recurse to build it."""
    head = _ITEM + _container_head()
    level = head + _sequence_header(0xA730, 0xFFFFFFFF)
    return level * (depth - 1) + head + _ITEM_END + (_SEQUENCE_END + _ITEM_END) * (depth - 1)


def deep_report_bytes(index: int, depth: int, undefined_root: bool = False) -> bytes:
    """Benchmark report `index` with a chain of `depth` CONTAINERs appended to the root's
    Content Sequence: its deepest item is at level depth + 1 (the root is level 1).
    `undefined_root` re-encodes that sequence with an undefined length (pydicom then reads
    it while reading the file, not on first access)."""
    data = benchmark_report_bytes(index)
    header = data.index(b"\x40\x00\x30\xa7SQ\x00\x00")  # the root's: the first (0040,A730)
    (length,) = struct.unpack_from("<L", data, header + 8)
    end = header + 12 + length
    chain = nested_containers(depth)
    if undefined_root:
        patched, chain = b"\xff\xff\xff\xff", chain + _SEQUENCE_END
    else:
        patched = struct.pack("<L", length + len(chain))
    return data[: header + 8] + patched + data[header + 12 : end] + chain + data[end:]


# ---------------------------------------------------------------- identity


def with_affected_uid(part10: bytes, affected_uid: str, calling: str = "ATTACKER") -> bytes:
    """The data set of `part10` behind a file meta naming another SOP Instance UID: sent
    with send_part10, the C-STORE's Affected SOP Instance UID is `affected_uid` while the
    data set keeps its own."""
    body = part10[len(part10) - dataset_size(part10) :]
    ds = from_bytes(part10)
    header = part10_header(
        str(ds.SOPClassUID), affected_uid, str(ds.file_meta.TransferSyntaxUID), calling
    )
    return header + body
