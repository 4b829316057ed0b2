"""The instances the reports reference: pydicom's ``CT_small.dcm`` (the real image they
measure on, whose study they live in) and shared SEG, RTSTRUCT, RWVM and secondary
captures with made-up UIDs; CT pixel positions in patient coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file

from tests.support.sr.identity import make_uid


@dataclass(frozen=True, slots=True)
class RefInstance:
    """A DICOM instance the reports reference (and list as evidence)."""

    series_uid: str
    sop_class_uid: str
    sop_instance_uid: str


def testdata_path(name: str) -> str:
    path = get_testdata_file(name)
    assert isinstance(path, str), name
    return path


@lru_cache(maxsize=1)
def _ct_dataset() -> Dataset:
    return dcmread(testdata_path("CT_small.dcm"), stop_before_pixels=True)


def ct() -> RefInstance:
    """pydicom's ``CT_small.dcm``: the real image the reports measure on."""
    ds = _ct_dataset()
    return RefInstance(ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID)


def study_uid() -> str:
    """Every report lives in the CT's study, so the CT is current-procedure evidence."""
    return str(_ct_dataset().StudyInstanceUID)


def frame_of_reference_uid() -> str:
    return str(_ct_dataset().FrameOfReferenceUID)


def _shared(label: str, sop_class_uid: str) -> RefInstance:
    return RefInstance(
        make_uid("shared", "series", label), sop_class_uid, make_uid("shared", "instance", label)
    )


SEG = _shared("seg", "1.2.840.10008.5.1.4.1.1.66.4")
RTSTRUCT = _shared("rtstruct", "1.2.840.10008.5.1.4.1.1.481.3")
RWVM = _shared("rwvm", "1.2.840.10008.5.1.4.1.1.67")
ILLUSTRATION = _shared("illustration", "1.2.840.10008.5.1.4.1.1.7")
EXPLANATION = _shared("explanation", "1.2.840.10008.5.1.4.1.1.7.4")


def references() -> dict[str, RefInstance]:
    refs = (ct(), SEG, RTSTRUCT, RWVM, ILLUSTRATION, EXPLANATION)
    return {r.sop_instance_uid: r for r in refs}


def pixel_to_patient(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """(column, row) pixel positions on the CT slice -> patient coordinates (mm)."""
    ds = _ct_dataset()
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    return np.array([[x0 + c * col_spacing, y0 + r * row_spacing, z0] for c, r in points])
