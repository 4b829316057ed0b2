"""Entry point of the mapping: a Dataset in, a transaction Bundle out."""

from __future__ import annotations

import json
from typing import Any

from pydicom.dataset import Dataset

from sr2fhir.errors import MappingError
from sr2fhir.mapping.options import MappingOptions

DEFAULT_OPTIONS = MappingOptions()


def convert_dataset(ds: Dataset, options: MappingOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """Map one TID 1500 report to one FHIR R5 transaction Bundle."""
    raise MappingError("mapping not implemented yet")


def bundle_to_json(bundle: dict[str, Any]) -> bytes:
    """Serialise a Bundle the same way every time (sorted keys are not used: order is meaningful)."""
    return (json.dumps(bundle, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
