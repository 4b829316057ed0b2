"""Observation.status from the SR Document General Module flags (docs/mapping.md, "Status").

| Completion Flag | Verification Flag | Preliminary Flag | status      |
|-----------------|-------------------|------------------|-------------|
| PARTIAL         | any               | any              | preliminary |
| any             | any               | PRELIMINARY      | preliminary |
| COMPLETE        | VERIFIED          | FINAL or absent  | final       |
| COMPLETE        | UNVERIFIED        | FINAL or absent  | final       |

A revision (Predecessor Documents Sequence) turns a carried-forward Observation whose earlier
version was released (final, amended or corrected) into `amended` (revised_status).
"""

from __future__ import annotations

from sr2fhir.mapping.document import DocumentHeader

PRELIMINARY = "preliminary"
FINAL = "final"
AMENDED = "amended"
RELEASED = frozenset({FINAL, AMENDED, "corrected"})  # FHIR: "subsequent to being final"


def document_status(header: DocumentHeader) -> str:
    """ConceptMap-02 (Preliminary Flag lower-cased); a PARTIAL report is preliminary too.
    The Verification Flag does not change it: UNVERIFIED means no person attested the
    content (an algorithm's result is complete without one), which FHIR records with
    Provenance, not with status."""
    if header.preliminary_flag == "PRELIMINARY" or header.completion_flag == "PARTIAL":
        return PRELIMINARY
    return FINAL


def revised_status(status: str, earlier: str | None, earlier_released: bool) -> str:
    """The status of an Observation a revision carries forward: `amended` once an earlier
    version was released (FHIR allows no way back from final to preliminary), else its own."""
    if earlier_released or earlier in RELEASED:
        return AMENDED
    return status
