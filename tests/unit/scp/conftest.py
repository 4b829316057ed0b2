"""Fixtures shared by the SCP tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sr2fhir.spool import Spool, open_spool


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    """An empty spool that gives up on a busy job database after 0.5 s."""
    opened = open_spool(tmp_path / "data", db_timeout=0.5)
    yield opened
    opened.close()
