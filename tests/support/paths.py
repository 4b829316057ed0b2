"""Where things are: the checkout, the shared folder beside it (the IG copy)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """../shared beside the checkout (CI lays it there), or SR2FHIR_SHARED."""
    return Path(os.environ.get("SR2FHIR_SHARED", REPO.parent / "shared"))
