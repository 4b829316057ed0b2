"""Shared fixtures: pydicom set up as the gateway reads, the IG folder, the IG's example
report, a spool of each back end. Shared helpers live in tests/support/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from sr2fhir.config import Config
from sr2fhir.runtime import configure_pydicom_reading
from sr2fhir.spool import Spool
from tests.support.paths import shared_dir
from tests.support.postgres import backend_config, open_for


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


@pytest.fixture(params=["sqlite", "postgresql"])
def spool_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Config]:
    """A spool configuration of each back end (postgresql: a fresh database in the cluster
    of tests/postgres/run.sh), its data folder `tmp_path / "data"`."""
    with backend_config(request.param, tmp_path / "data") as config:
        yield config


@pytest.fixture
def any_spool(spool_config: Config) -> Iterator[Spool]:
    """The gateway's spool of `spool_config`'s back end."""
    opened = open_for(spool_config)
    yield opened
    opened.close()
