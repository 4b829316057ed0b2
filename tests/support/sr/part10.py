"""DICOM Part-10 bytes and back: the factory's documents, and tiny SRs for the spool tests."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from sr2fhir.spool import InstanceInfo
from tests.support.sr.identity import SOP_CLASSES


def to_bytes(ds: Dataset) -> bytes:
    """Part-10 bytes of ``ds`` (preamble, file meta, explicit VR little endian)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def from_bytes(data: bytes) -> Dataset:
    """The Dataset of Part-10 bytes."""
    return dcmread(io.BytesIO(data))


def write_datasets(folder: Path, datasets: Sequence[Dataset]) -> list[Path]:
    """Each dataset as a Part-10 file ``sr-<n>.dcm`` in ``folder``, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(datasets):
        path = folder / f"sr-{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def tiny_sr_bytes(uid: str, ae: str = "MODALITY", text: str = "v1") -> bytes:
    """A tiny Part-10 SR (no content tree) with the calling AE in the file meta, as the SCP
    writes it: what the spool tests store; `text` tells versions apart."""
    ds = Dataset()
    ds.SOPClassUID = SOP_CLASSES["comprehensive"]
    ds.SOPInstanceUID = uid
    ds.ContentDescription = text
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES["comprehensive"]
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = ae
    ds.file_meta = meta
    return to_bytes(ds)


def tiny_sr_info(uid: str, ae: str = "MODALITY") -> InstanceInfo:
    """What the SCP knows of a `tiny_sr_bytes` instance when it spools it."""
    return InstanceInfo(SOP_CLASSES["comprehensive"], uid, ae)


def sop_instance_uid(path: Path) -> str:
    """The SOP Instance UID of a Part-10 file."""
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
