"""Shared fixtures: the IG folder, the IG's example report, golden-file comparison, and a
spool of each back end."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from sr2fhir.config import Config
from sr2fhir.runtime import configure_pydicom_reading
from sr2fhir.spool import Spool
from tests.postgres_db import backend_config, open_for

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def shared_dir() -> Path:
    """../shared beside the checkout (CI lays it there), or SR2FHIR_SHARED."""
    return Path(os.environ.get("SR2FHIR_SHARED", REPO.parent / "shared"))


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


def assert_matches_golden(name: str, data: bytes) -> None:
    """Byte-for-byte comparison; SR2FHIR_UPDATE_GOLDEN=1 rewrites (then check by eye)."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("SR2FHIR_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"no golden file {path}: run with SR2FHIR_UPDATE_GOLDEN=1 and review it"
    assert data == path.read_bytes(), f"{name}: output differs from {path}"


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
