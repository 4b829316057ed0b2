"""What a report converted without: one machine-readable warning per item left out, and why.

A report that maps with something left out still converts; the mapping says what it left out
instead of dropping it silently. Messages name content item paths, value types, codes and
their meanings, never a TEXT value, a name or an identifier (no PHI).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class WarningCode(Enum):
    """Why something of the report is not in the Bundle as the report said it."""

    ITEM_NOT_MAPPED = "item-not-mapped"
    """A content item the IG's mapping has no place for here (its descendants go with it)."""
    UNKNOWN_VALUE_TYPE = "unknown-value-type"
    """A Value Type (0040,A040) PS3.3 does not define: the item cannot be read."""
    TITLE_OUTSIDE_CID_7021 = "title-outside-cid-7021"
    """The document title is not a CID 7021 Measurement Report Document Title."""
    INVALID_UCUM_UNIT = "invalid-ucum-unit"
    """A NUM's UCUM unit code is not valid UCUM: the Quantity keeps its text, not the code."""
    UNIT_CORRECTED = "unit-corrected"
    """A known producer mistake in a unit code was read as the unit it stands for."""


@dataclass(frozen=True, slots=True)
class MappingWarning:
    """One thing left out: a code to count and filter by, the item, and a one-line reason."""

    code: WarningCode
    item_path: str | None
    message: str

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready: {"code": "item-not-mapped", "item_path": "1.6.1.4", "message": ...}."""
        return {"code": self.code.value, "item_path": self.item_path, "message": self.message}


def warnings_document(
    sop_instance_uid: str, warnings: tuple[MappingWarning, ...]
) -> dict[str, object]:
    """The per-report warnings as one JSON document (`<uid>.warnings.json` beside a Bundle)."""
    return {
        "sop_instance_uid": sop_instance_uid,
        "warnings": [w.to_dict() for w in warnings],
    }
