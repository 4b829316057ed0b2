"""Shared fixtures: pydicom set up as the gateway reads, the IG folder, the IG's example
report. Shared helpers live in tests/support/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from sr2fhir.runtime import configure_pydicom_reading
from tests.support.paths import shared_dir


@pytest.fixture(scope="session", autouse=True)
def _pydicom_reads_as_the_gateway_does() -> None:
    """Tests read SRs with pydicom set up as sr2fhir's entry points set it (lenient, quiet)."""
    configure_pydicom_reading()


@pytest.fixture(scope="session")
def ig_dir() -> Path:
    ig = shared_dir() / "ig"
    if not (ig / "resources").is_dir():
        pytest.skip(f"the IG reference copy is absent ({ig})")
    return ig


def _listify_values(node: Any) -> Any:
    """PS3.18 F.2 wants every "Value" to be an array; the IG example has one bare string."""
    if isinstance(node, dict):
        if "vr" in node and "Value" in node and not isinstance(node["Value"], list):
            node["Value"] = [node["Value"]]
        for value in node.values():
            _listify_values(value)
    elif isinstance(node, list):
        for value in node:
            _listify_values(value)
    return node


@pytest.fixture(scope="session")
def ig_example_dataset(ig_dir: Path) -> Dataset:
    data = json.loads((ig_dir / "dicom" / "Example-MeasurementReport.json").read_text())
    ds = Dataset.from_json(_listify_values(data))
    ds.ensure_file_meta()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    return ds
