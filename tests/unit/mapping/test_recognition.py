"""Which SRs are TID 1500 Measurement Reports: template id, CID 7021 title, or structure."""

from __future__ import annotations

import pytest
from pydicom.sr.codedict import codes as pydicom_codes
from pydicom.sr.coding import Code as PydicomCode

from sr2fhir.errors import SrParseError
from sr2fhir.mapping.codes import Code
from sr2fhir.mapping.convert import map_report
from sr2fhir.mapping.recognition import measurement_report_titles
from sr2fhir.mapping.warnings import WarningCode
from tests.support.sr.bad_inputs import no_tid1500_structure_sr
from tests.support.sr.reports import other_title_report, planar_report, titled_report
from tests.unit.mapping.bundle_view import resources

TITLES = sorted(measurement_report_titles(), key=lambda code: code.value)


def test_the_titles_are_pydicoms_cid_7021() -> None:
    names = pydicom_codes.CID7021.dir()
    assert len(TITLES) == len(names) >= 4
    assert Code("126000", "DCM") in TITLES and Code("126003", "DCM") in TITLES


@pytest.mark.parametrize("title", TITLES, ids=lambda code: code.value)
def test_every_cid_7021_title_is_a_measurement_report_without_a_template_id(title: Code) -> None:
    ds = titled_report(PydicomCode(title.value, title.designator, title.meaning), "t")
    assert "ContentTemplateSequence" not in ds
    result = map_report(ds)
    assert resources(result.bundle, "imaging-measurement")
    assert result.warnings == ()


def test_tid1500_structure_without_template_or_cid_7021_title_converts_with_a_warning() -> None:
    result = map_report(other_title_report(declared=False))
    assert resources(result.bundle, "imaging-measurement-group")
    (warning,) = result.warnings
    assert warning.code is WarningCode.TITLE_OUTSIDE_CID_7021 and warning.item_path == "1"
    assert warning.message == (
        'document title (18748-4, LN, "Diagnostic imaging report") is not a CID 7021 '
        "Measurement Report Document Title; converted as TID 1500 because of the TID 1500 "
        "container(s) at its root"
    )


def test_declared_tid1500_with_a_title_outside_cid_7021_converts_with_a_warning() -> None:
    result = map_report(other_title_report(declared=True))
    assert resources(result.bundle, "imaging-measurement")
    (warning,) = result.warnings
    assert warning.code is WarningCode.TITLE_OUTSIDE_CID_7021
    assert warning.message.endswith("because it declares template TID 1500")


def test_an_sr_without_template_title_or_structure_is_rejected_saying_what_was_missing() -> None:
    with pytest.raises(SrParseError) as raised:
        map_report(no_tid1500_structure_sr())
    assert str(raised.value) == (
        "an SR but not a TID 1500 Measurement Report: no template id TID 1500, document title "
        '(18748-4, LN, "Diagnostic imaging report") not in CID 7021, and no Imaging '
        "Measurements, Derived Imaging Measurements or Qualitative Evaluations container at "
        "the root"
    )


def test_another_template_is_rejected_even_with_a_cid_7021_title() -> None:
    ds = planar_report()
    ds.ContentTemplateSequence[0].TemplateIdentifier = "2000"
    with pytest.raises(SrParseError, match=r"not a TID 1500 Measurement Report: template '2000'"):
        map_report(ds)
