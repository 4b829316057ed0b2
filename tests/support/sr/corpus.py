"""Real-world SR inputs: SR files that installable packages ship, and TID 1500 reports made
by an independent producer (dcmqi's tid1500writer, from the PyPI package dcmqi).

tests/data/README.md lists every file with its source, licence and what it gives. Nothing is
downloaded at test time: the files come from installed packages or are made here.

CLI: ``python -m tests.support.sr.corpus OUT`` writes the dcmqi reports (to refresh
tests/data/corpus).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.sr.codedict import codes

from tests.support.sr.identity import make_uid

# SR files shipped by installed packages (pydicom's test files): none is TID 1500.
PYDICOM_SRS = ("test-SR.dcm", "reportsi.dcm", "reportsi_with_empty_number_tags.dcm")


def pydicom_sr(name: str) -> Path:
    path = get_testdata_file(name)
    assert isinstance(path, str), name
    return Path(path)


def tid1500writer() -> str | None:
    """dcmqi's tid1500writer (PyPI dcmqi ships it as a static binary), or None."""
    try:
        import dcmqi
    except ImportError:
        return None
    binary = Path(dcmqi.__file__).parent / "bin" / "tid1500writer"
    return str(binary) if binary.exists() else None


def _ct() -> Path:
    return pydicom_sr("CT_small.dcm")


def write_segmentation(folder: Path) -> hd.seg.Segmentation:
    """A one-segment SEG (liver) over pydicom's CT_small: dcmqi's composite context."""
    ct = dcmread(_ct())
    mask = np.zeros((1, ct.Rows, ct.Columns), dtype=bool)
    mask[0, 40:80, 40:80] = True
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Liver",
        segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Liver,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=[ct],
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=make_uid("corpus", "seg-series"),
        series_number=300,
        sop_instance_uid=make_uid("corpus", "seg-instance"),
        instance_number=1,
        manufacturer="sr2fhir tests",
        manufacturer_model_name="corpus",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(folder / "seg.dcm")
    shutil.copy(_ct(), folder / "ct.dcm")
    return seg


def _code(value: str, designator: str, meaning: str) -> dict[str, str]:
    return {"CodeValue": value, "CodingSchemeDesignator": designator, "CodeMeaning": meaning}


def _item(value: str, quantity: dict[str, str], units: dict[str, str]) -> dict[str, object]:
    return {"value": value, "quantity": quantity, "units": units}


ATTENUATION = _code("112031", "DCM", "Attenuation Coefficient")
VOLUME = _code("118565006", "SCT", "Volume")
HOUNSFIELD = _code("[hnsf'U]", "UCUM", "Hounsfield unit")


@dataclass(frozen=True, slots=True)
class DcmqiCase:
    """One tid1500writer input: its name and the measurement items of its one group."""

    name: str
    items: tuple[dict[str, object], ...]


DCMQI_CASES = (
    DcmqiCase(
        "dcmqi-liver",
        (
            {
                **_item("37.33", ATTENUATION, HOUNSFIELD),
                "derivationModifier": _code("373098007", "SCT", "Mean"),
            },
            _item("70361.9", VOLUME, _code("mm3", "UCUM", "cubic millimeter")),
        ),
    ),
    DcmqiCase(
        "dcmqi-units",  # units producers really send: "HU" (not UCUM), dcmjs' "[arb'U]{cm}"
        (
            _item("42", ATTENUATION, _code("HU", "UCUM", "HU")),
            _item(
                "10.04",
                _code("410668003", "SCT", "Length"),
                _code("[arb'U]{cm}", "UCUM", "arbitrary cm"),
            ),
        ),
    ),
)


def metadata(case: DcmqiCase, seg: hd.seg.Segmentation) -> dict[str, object]:
    """dcmqi's sr-tid1500 JSON for `case` (keys as dcmqi's schema names them)."""
    return {
        "SeriesDescription": case.name,
        "SeriesNumber": "900",
        "InstanceNumber": "1",
        "compositeContext": ["seg.dcm"],
        "imageLibrary": ["ct.dcm"],
        "observerContext": {"ObserverType": "PERSON", "PersonObserverName": "Reader^One"},
        "VerificationFlag": "UNVERIFIED",
        "CompletionFlag": "COMPLETE",
        "activitySession": "1",
        "timePoint": "1",
        "Measurements": [
            {
                "TrackingIdentifier": "Lesion 1",
                "ReferencedSegment": 1,
                "SourceSeriesForImageSegmentation": str(dcmread(_ct()).SeriesInstanceUID),
                "segmentationSOPInstanceUID": str(seg.SOPInstanceUID),
                "Finding": _code("113343008", "SCT", "Organ"),
                "FindingSite": _code("10200004", "SCT", "Liver"),
                "measurementItems": list(case.items),
            }
        ],
    }


def write_dcmqi_reports(folder: Path) -> dict[str, Path]:
    """Run tid1500writer for every DcmqiCase; name -> the Enhanced SR it wrote."""
    writer = tid1500writer()
    if writer is None:
        raise RuntimeError("dcmqi is not installed (pip install dcmqi)")
    inputs = folder / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    seg = write_segmentation(inputs)
    written = {}
    for case in DCMQI_CASES:
        meta = inputs / f"{case.name}.json"
        meta.write_text(json.dumps(metadata(case, seg), indent=2))
        output = folder / f"{case.name}.dcm"
        subprocess.run(
            [
                writer,
                "--inputMetadata",
                str(meta),
                "--inputImageLibraryDirectory",
                str(inputs),
                "--inputCompositeContextDirectory",
                str(inputs),
                "--outputDICOM",
                str(output),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        written[case.name] = output
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for name, path in write_dcmqi_reports(out).items():
        print(name, path)
