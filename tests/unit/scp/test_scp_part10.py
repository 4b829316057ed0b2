"""The hand-encoded Part-10 header equals pydicom's encoding of the same File Meta."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

from sr2fhir.scp.part10 import part10_header

COMPREHENSIVE_3D = "1.2.840.10008.5.1.4.1.1.88.34"


def pydicom_header(sop_class: str, sop_instance: str, syntax: str, ae: str) -> bytes:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = PYNETDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = PYNETDICOM_IMPLEMENTATION_VERSION
    meta.SourceApplicationEntityTitle = ae
    out = io.BytesIO()
    out.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("sop_instance", "syntax", "ae"),
    [
        ("2.25.1", ImplicitVRLittleEndian, "CT"),  # odd-length UID and AE: padding
        ("1.2.3.44", ExplicitVRBigEndian, "ORTHANC"),
        ("1.2.840.113619.2.55.3.4", DeflatedExplicitVRLittleEndian, "SIXTEEN_CHARS_AE"),
    ],
)
def test_header_is_byte_identical_to_pydicoms(sop_instance: str, syntax: str, ae: str) -> None:
    ours = part10_header(COMPREHENSIVE_3D, sop_instance, syntax, ae)
    assert ours == pydicom_header(COMPREHENSIVE_3D, sop_instance, syntax, ae)
    meta = pydicom.dcmread(io.BytesIO(ours)).file_meta  # a header with an empty dataset
    assert meta.MediaStorageSOPInstanceUID == sop_instance
    assert meta.SourceApplicationEntityTitle == ae
