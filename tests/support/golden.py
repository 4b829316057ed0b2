"""Golden files: outputs compared byte for byte with tests/data/golden/<name>.json."""

from __future__ import annotations

import os

from tests.support.paths import REPO

GOLDEN = REPO / "tests" / "data" / "golden"


def assert_matches_golden(name: str, data: bytes) -> None:
    """Byte-for-byte comparison; SR2FHIR_UPDATE_GOLDEN=1 rewrites (then check by eye)."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("SR2FHIR_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"no golden file {path}: run with SR2FHIR_UPDATE_GOLDEN=1 and review it"
    assert data == path.read_bytes(), f"{name}: output differs from {path}"
