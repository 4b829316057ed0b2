"""Inputs the gateway must refuse or quarantine: not DICOM, empty, truncated, a CT image,
SRs that are not TID 1500, a malformed content tree (bytes, or a Dataset where noted)."""

from __future__ import annotations

from pathlib import Path

import highdicom.sr as hsr
from pydicom import Dataset

from tests.support.sr.codes import DCM, OTHER_TITLE
from tests.support.sr.documents import dataset, document
from tests.support.sr.part10 import to_bytes
from tests.support.sr.references import testdata_path
from tests.support.sr.reports import planar_report
from tests.support.sr.templates import text_item
from tests.support.sr.tree import find, imaging_measurements


def no_tid1500_structure_sr() -> Dataset:
    """Comprehensive SR titled LN 18748-4, no template id and no TID 1500 container (one TEXT
    finding at the root). A bad case: nothing says it is a Measurement Report."""
    case = "no-tid1500-structure"
    root = dataset(
        ValueType="CONTAINER",
        ConceptNameCodeSequence=[hsr.CodedConcept.from_code(OTHER_TITLE)],
        ContinuityOfContent="SEPARATE",
        ContentSequence=[text_item(DCM.Finding, "No abnormality")],
    )
    return document(case, root)


def _testdata_bytes(name: str) -> bytes:
    return Path(testdata_path(name)).read_bytes()


def not_dicom_bytes() -> bytes:
    return b"This is not a DICOM file.\nPatientName=DOE^JANE^Q\n"


def empty_bytes() -> bytes:
    return b""


def truncated_sr_bytes() -> bytes:
    """The planar report's bytes cut halfway through the top-level ContentSequence."""
    data = to_bytes(planar_report("truncated"))
    start = data.index(b"\x40\x00\x30\xa7SQ")  # (0040,A730), explicit VR LE
    return data[: start + (len(data) - start) // 2]


def ct_image_bytes() -> bytes:
    return _testdata_bytes("CT_small.dcm")


def non_tid1500_sr_bytes() -> bytes:
    """pydicom's ``test-SR.dcm``: a Comprehensive SR that is not TID 1500."""
    return _testdata_bytes("test-SR.dcm")


def basic_text_sr_bytes() -> bytes:
    """pydicom's ``reportsi.dcm``: a Basic Text SR."""
    return _testdata_bytes("reportsi.dcm")


def malformed_tree_bytes() -> bytes:
    """A planar report whose Finding CODE item (1.6.1.4) has no ConceptCodeSequence."""
    ds = planar_report("malformed")
    del find(imaging_measurements(ds).ContentSequence[0], "121071").ConceptCodeSequence
    return to_bytes(ds)
