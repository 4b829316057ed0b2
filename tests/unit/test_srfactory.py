"""The SR test-input factory is deterministic and builds what the mapping tests rely on."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from pydicom import Dataset

from tests.support.sr.bad_inputs import truncated_sr_bytes
from tests.support.sr.benchmark import benchmark_report, benchmark_report_bytes
from tests.support.sr.catalogue import BAD_CASES, GOOD_CASES
from tests.support.sr.containers import derived_report
from tests.support.sr.documents import as_sop_class
from tests.support.sr.identity import PATIENT_NAME, SOP_CLASSES, make_uid
from tests.support.sr.part10 import to_bytes
from tests.support.sr.reports import planar_report
from tests.support.sr.tree import iter_items

# (concept code value, value type) of every content item the IG maps to an ImagingSelection.
IMAGING_SELECTION_ITEMS = {
    ("111030", "SCOORD"),  # Image Region 2D
    ("111030", "SCOORD3D"),  # Image Region 3D
    ("121191", "IMAGE"),  # Referenced Segment
    ("121214", "IMAGE"),  # Referenced Segmentation Frame
    ("130488", "COMPOSITE"),  # Region In Space
    ("121231", "SCOORD3D"),  # Volume Surface
    ("126100", "COMPOSITE"),  # Real World Value Map
    ("121200", "IMAGE"),  # Illustration of ROI
    ("130401", "IMAGE"),  # Visual explanation
    ("121233", "IMAGE"),  # Source image for segmentation
    ("121232", "UIDREF"),  # Source series for segmentation
}


@cache
def _case(name: str) -> Dataset:
    """Each good case built once per session (tests only read them)."""
    return GOOD_CASES[name]()


def _items(ds: Dataset) -> set[tuple[str, str]]:
    return {
        (item.ConceptNameCodeSequence[0].CodeValue, item.ValueType)
        for _, item in iter_items(ds)
        if "ConceptNameCodeSequence" in item
    }


def _uids(ds: Dataset) -> set[str]:
    found = {str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID)}
    for _, item in iter_items(ds):
        found.update(str(item[k].value) for k in ("ObservationUID", "UID") if k in item)
    return found


def test_same_call_gives_same_bytes() -> None:
    assert to_bytes(planar_report()) == to_bytes(planar_report())
    assert to_bytes(derived_report("root")) == to_bytes(derived_report("root"))
    assert benchmark_report_bytes(7) == benchmark_report_bytes(7)


@pytest.mark.parametrize("name", sorted(set(GOOD_CASES) - {"large"}))
def test_good_case_is_a_tid1500_report(name: str) -> None:
    ds = _case(name)
    title = ds.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("126000", "DCM")
    if name == "no_template_id":
        assert "ContentTemplateSequence" not in ds
    else:
        assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.PatientName == PATIENT_NAME


def test_every_imaging_selection_kind_appears_in_volumetric_report() -> None:
    ds = _case("volumetric")
    missing = IMAGING_SELECTION_ITEMS - _items(ds)
    assert not missing
    assert ds.SOPClassUID == SOP_CLASSES["comprehensive3d"]


def test_imaging_selection_list_covers_the_ig_profiles(ig_dir: Path) -> None:
    profile_codes = set()
    for fsh in ig_dir.glob("fsh/ImagingSelection-*.fsh"):
        profile_codes.update(re.findall(r"code\.coding = DCM#(\d+)", fsh.read_text()))
    profile_codes.discard("111040")  # Source SR Content Item: the SR itself, not an item
    assert len(profile_codes) >= 9
    assert profile_codes <= {code for code, _ in IMAGING_SELECTION_ITEMS}


def test_benchmark_reports_have_unique_uids() -> None:
    reports = [benchmark_report(i) for i in range(1, 21)]
    assert len({ds.SOPInstanceUID for ds in reports}) == 20
    first, second = _uids(reports[0]), _uids(reports[1])
    assert len(first) == 26
    assert not first & second
    assert reports[0].StudyInstanceUID == reports[1].StudyInstanceUID


def test_generated_uids_are_valid_and_fixed_length() -> None:
    uid = make_uid("case", 1)
    assert re.fullmatch(r"2\.25\.[1-9]\d{38}", uid)
    assert uid == make_uid("case", 1) != make_uid("case", 2)


def test_qualifier_num_has_no_value() -> None:
    group = _case("qualifier").ContentSequence[5].ContentSequence[0]
    nan, length = group.ContentSequence[6], group.ContentSequence[7]
    assert nan.NumericValueQualifierCodeSequence[0].CodeValue == "114000"
    assert len(nan.MeasuredValueSequence) == 0
    assert float(length.MeasuredValueSequence[0].NumericValue) == 12.0


def test_derived_num_cites_both_groups_by_reference() -> None:
    ds = _case("derived_root")
    mean = ds.ContentSequence[6].ContentSequence[0]
    refs = [list(item.ReferencedContentItemIdentifier) for item in mean.ContentSequence]
    assert refs == [[1, 6, 1], [1, 6, 2]]


def test_sop_class_variants_respect_content() -> None:
    enhanced = as_sop_class(_case("planar"), "enhanced")
    assert enhanced.SOPClassUID == enhanced.file_meta.MediaStorageSOPClassUID
    assert enhanced.SOPClassUID == SOP_CLASSES["enhanced"]
    with pytest.raises(ValueError, match="comprehensive"):
        as_sop_class(_case("volumetric"), "comprehensive")
    with pytest.raises(ValueError, match="enhanced"):
        as_sop_class(_case("derived_inside"), "enhanced")


def test_bad_inputs_are_bytes_and_truncation_cuts_the_tree() -> None:
    for name in ("not_dicom", "empty", "ct_image", "non_tid1500_sr", "basic_text_sr"):
        assert isinstance(BAD_CASES[name](), bytes), name
    full = to_bytes(planar_report("truncated"))
    cut = truncated_sr_bytes()
    assert full.startswith(cut) and b"\x40\x00\x30\xa7SQ" in cut
