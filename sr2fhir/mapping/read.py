"""Read a Part-10 file (or bytes) into a pydicom Dataset, with one-line reasons on failure."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from sr2fhir.errors import SrParseError


def read_sr_file(path: str | Path) -> Dataset:
    """Read a DICOM file; raise SrParseError naming why it is not readable DICOM."""
    try:
        with open(path, "rb") as handle:
            return _read(handle)
    except OSError as exc:
        raise SrParseError(f"cannot read file: {exc.strerror}") from exc


def read_sr_bytes(data: bytes) -> Dataset:
    """Read a DICOM dataset from bytes (Part-10 with or without preamble)."""
    return _read(io.BytesIO(data))


def _read(handle: io.BufferedIOBase | io.BytesIO) -> Dataset:
    head = handle.read(132)
    handle.seek(0)
    if not head:
        raise SrParseError("not a DICOM file: empty")
    try:
        ds = pydicom.dcmread(handle, force=head[128:132] != b"DICM" and _looks_like_raw(head))
        ds.ensure_file_meta()
        # Decode everything now so a truncated file fails here, not half-way through mapping.
        for _ in ds.iterall():
            pass
    except InvalidDicomError as exc:
        raise SrParseError("not a DICOM file: no DICM prefix and no valid dataset") from exc
    except (EOFError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise SrParseError(f"truncated or corrupt DICOM: {_short(exc)}") from exc
    if "SOPClassUID" not in ds:
        raise SrParseError("not a DICOM file: no SOP Class UID (0008,0016)")
    return ds


def _looks_like_raw(head: bytes) -> bool:
    """A raw dataset without preamble starts with a group 0x0008 tag in little endian."""
    return head[:2] == b"\x08\x00"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
