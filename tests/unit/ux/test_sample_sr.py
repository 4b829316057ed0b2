"""The sample report shipped for `sr2fhir send-sample`: synthetic, reproducible, converts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from pydicom import dcmread

from sr2fhir.commands.send_sample import sample_path
from sr2fhir.mapping import MappingOptions, map_report, read_sr_bytes

REPO = Path(__file__).resolve().parents[3]


def sample_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_sr", REPO / "tools" / "sample_sr.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sample_ships_inside_the_package_and_is_made_again_byte_for_byte() -> None:
    path = sample_path()
    assert path == REPO / "sr2fhir" / "data" / "sample-sr.dcm"
    assert path.read_bytes() == sample_tool().build()  # else: python3 tools/sample_sr.py


def test_the_sample_is_plainly_synthetic() -> None:
    ds = dcmread(sample_path())
    assert str(ds.PatientName) == "SYNTHETIC^SAMPLE" and ds.PatientID == "SR2FHIR-SAMPLE-1"
    data = sample_path().read_bytes()
    for made_up in sample_tool().SYNTHETIC:  # the test factory's identities are all gone
        assert made_up.encode() not in data


def test_the_sample_converts_without_warnings() -> None:
    mapped = map_report(read_sr_bytes(sample_path().read_bytes()), MappingOptions())
    assert mapped.warnings == ()
    types = [entry["resource"]["resourceType"] for entry in mapped.bundle["entry"]]
    assert types.count("Observation") >= 20 and "ImagingSelection" in types
