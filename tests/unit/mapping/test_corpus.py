"""Real-world SR files (tests/data/README.md): every TID 1500 converts, every other one is
rejected with one clear line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sr2fhir.cli import main
from sr2fhir.commands.convert import read_sr_file
from sr2fhir.mapping import bundle_to_json, map_report
from sr2fhir.mapping.warnings import WarningCode
from tests.support.golden import assert_matches_golden
from tests.support.sr.corpus import PYDICOM_SRS, pydicom_sr, tid1500writer, write_dcmqi_reports

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
NOT_MAPPED, INVALID, CORRECTED = (
    WarningCode.ITEM_NOT_MAPPED,
    WarningCode.INVALID_UCUM_UNIT,
    WarningCode.UNIT_CORRECTED,
)
# dcmqi writes TID 1501's Activity Session (1.6.1.1) and Time Point (1.6.1.5): no IG element.
DCMQI_WARNINGS = {
    "dcmqi-liver": [(NOT_MAPPED, "1.6.1.1"), (NOT_MAPPED, "1.6.1.5")],
    "dcmqi-units": [
        (NOT_MAPPED, "1.6.1.1"),
        (NOT_MAPPED, "1.6.1.5"),
        (INVALID, "1.6.1.9"),
        (CORRECTED, "1.6.1.10"),
    ],
}
REJECTIONS = {
    "test-SR.dcm": "rejected: an SR but not a TID 1500 Measurement Report: no template id TID "
    '1500, document title (1111, TEST, "Diagnosis") not in CID 7021, and no Imaging '
    "Measurements, Derived Imaging Measurements or Qualitative Evaluations container at the root",
    "reportsi.dcm": "rejected: an SR but not a TID 1500 Measurement Report: no template id TID "
    '1500, document title (IHE.01, 99_OFFIS_DCMTK, "Document Title") not in CID 7021, and no '
    "Imaging Measurements, Derived Imaging Measurements or Qualitative Evaluations container at "
    "the root",
    "reportsi_with_empty_number_tags.dcm": "rejected: an SR but not a TID 1500 Measurement "
    'Report: no template id TID 1500, document title (IHE.01, 99_OFFIS_DCMTK, "Document Title") '
    "not in CID 7021, and no Imaging Measurements, Derived Imaging Measurements or Qualitative "
    "Evaluations container at the root",
}


@pytest.mark.parametrize("name", sorted(DCMQI_WARNINGS))
def test_dcmqi_reports_convert_to_their_golden_with_their_warnings(name: str) -> None:
    result = map_report(read_sr_file(CORPUS / f"{name}.dcm"))
    assert_matches_golden(f"corpus-{name}", bundle_to_json(result.bundle, indent=2))
    assert [(w.code, w.item_path) for w in result.warnings] == DCMQI_WARNINGS[name]


def test_the_installed_dcmqi_still_writes_reports_that_convert_alike(tmp_path: Path) -> None:
    """The committed files were made by tests/support/sr/corpus.py; today's dcmqi makes the
    same kind."""
    if tid1500writer() is None:
        pytest.skip("dcmqi is not installed (a test extra: pip install -e '.[test]')")
    for name, path in write_dcmqi_reports(tmp_path).items():
        fresh = map_report(read_sr_file(path))
        kept = map_report(read_sr_file(CORPUS / f"{name}.dcm"))
        assert [(w.code, w.item_path) for w in fresh.warnings] == DCMQI_WARNINGS[name]
        kinds = [
            sorted(e["request"]["url"].split("/")[0] for e in b["entry"])
            for b in (fresh.bundle, kept.bundle)
        ]
        assert kinds[0] == kinds[1], name


def test_convert_over_the_whole_collection_says_one_line_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in PYDICOM_SRS:
        shutil.copy(pydicom_sr(name), folder / name)
    for path in CORPUS.glob("*.dcm"):
        shutil.copy(path, folder / path.name)
    assert main(["convert", str(folder), "--out", str(tmp_path / "out")]) == 1
    *lines, summary = capsys.readouterr().err.splitlines()
    assert len(lines) == len(PYDICOM_SRS) + len(DCMQI_WARNINGS)
    assert summary.startswith("converted ")  # the run's summary line comes last
    for name, reason in REJECTIONS.items():
        assert f"{folder / name}: {reason}" in lines
    for name, warnings in DCMQI_WARNINGS.items():
        (line,) = [x for x in lines if x.startswith(f"{folder / name}.dcm: ")]
        assert f"converted with {len(warnings)} warning(s)" in line
    assert len(list((tmp_path / "out").glob("*.warnings.json"))) == len(DCMQI_WARNINGS)
