"""Process-wide settings are chosen by the entry points, never by an import."""

from __future__ import annotations

import subprocess
import sys

import pydicom.config
import pytest

from sr2fhir.mapping import MappingOptions
from sr2fhir.worker import make_converter
from tests.support.paths import REPO


def test_importing_sr2fhir_leaves_pydicom_settings_alone() -> None:
    code = (
        "import pydicom.config as c\n"
        "before = c.settings.reading_validation_mode\n"
        "import sr2fhir.config, sr2fhir.mapping, sr2fhir.daemon, sr2fhir.worker, sr2fhir.cli\n"
        "sr2fhir.cli.build_parser()  # imports every command module\n"
        "print(c.settings.reading_validation_mode == before)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "True"


def test_a_worker_converter_reads_leniently_and_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers (threads or spawned processes) build their converter where they run."""
    monkeypatch.setattr(pydicom.config.settings, "reading_validation_mode", pydicom.config.WARN)
    make_converter(MappingOptions())
    assert pydicom.config.settings.reading_validation_mode == pydicom.config.IGNORE
