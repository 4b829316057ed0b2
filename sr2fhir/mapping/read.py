"""Part-10 bytes -> a data set, with one-line reasons on failure (no file access here).

The common encodings go through the fast decoder (dataset.py); everything else, including
every broken file, through pydicom, whose errors name the reason. How strictly pydicom checks
values is the process's choice: sr2fhir's entry points set it once, with
sr2fhir.runtime.configure_pydicom_reading().
"""

from __future__ import annotations

import io
import struct

import pydicom
from pydicom.errors import InvalidDicomError

from sr2fhir.errors import SrParseError
from sr2fhir.mapping.dataset import ElementSource, decode_part10


class _ReadWatch(io.BytesIO):
    """Counts reads that ended early: a truncated file reads short or hits EOF more than once."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.short_reads = 0
        self.empty_reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        got = super().read(size)
        if size is not None and size > 0 and len(got) < size:
            if got:
                self.short_reads += 1
            else:
                self.empty_reads += 1
        return got

    @property
    def truncated(self) -> bool:
        return self.short_reads > 0 or self.empty_reads > 1


def read_sr_bytes(data: bytes, max_bytes: int | None = None) -> ElementSource:
    """Read a DICOM dataset from bytes (Part-10 with or without preamble); a data set of
    more than `max_bytes` (dicom.max_dataset_bytes), also once inflated, is refused unread."""
    if not data:
        raise SrParseError("not a DICOM file: empty")
    if max_bytes is not None:
        size = dataset_size(data)
        if size > max_bytes:
            raise SrParseError(
                f"data set of {size} bytes, more than dicom.max_dataset_bytes ({max_bytes})"
            )
    fast = decode_part10(data, max_bytes)
    if fast is not None:
        return fast
    return _read_with_pydicom(data)


def dataset_size(data: bytes) -> int:
    """Bytes of the data set in a Part-10 file: after the File Meta Information, whose group
    length (0002,0000) says where it ends; all of `data` when it has no such header."""
    if data[128:132] != b"DICM" or data[132:140] != b"\x02\x00\x00\x00UL\x04\x00":
        return len(data)
    meta_length: int = struct.unpack_from("<L", data, 140)[0]
    return max(len(data) - 144 - meta_length, 0)


def _read_with_pydicom(data: bytes) -> ElementSource:
    has_prefix = data[128:132] == b"DICM"
    if not has_prefix and not _looks_like_raw(data):
        raise SrParseError("not a DICOM file: no DICM prefix and no dataset")
    watch = _ReadWatch(data)
    try:
        ds = pydicom.dcmread(watch, force=not has_prefix)
    except InvalidDicomError as exc:
        raise SrParseError("not a DICOM file: no DICM prefix and no valid dataset") from exc
    except RecursionError:  # pydicom reads nested sequences recursively
        raise SrParseError("corrupt DICOM: sequences nested too deeply to read") from None
    except Exception as exc:  # any decoding failure of untrusted bytes is a rejection
        raise SrParseError(f"truncated or corrupt DICOM: {_short(exc)}") from exc
    if watch.truncated:
        raise SrParseError("truncated DICOM: the file ends inside an element or sequence")
    if "SOPClassUID" not in ds:
        raise SrParseError("not a DICOM file: no SOP Class UID (0008,0016)")
    return ds


def _looks_like_raw(data: bytes) -> bool:
    """A dataset without preamble starts with a group 0x0002 or 0x0008 tag, little endian."""
    return data[:2] in (b"\x02\x00", b"\x08\x00")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
