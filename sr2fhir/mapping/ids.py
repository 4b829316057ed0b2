"""Deterministic resource ids: UUIDv5 of a stable key (no clock, no randomness)."""

from __future__ import annotations

import uuid

# uuid5(NAMESPACE_URL, "urn:sr2fhir") - fixed forever: changing it changes every resource id.
SR2FHIR_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sr2fhir")


def resource_id(*parts: str) -> str:
    """The id for a resource keyed by parts, e.g. (SOP Instance UID, "observation", "1.4.1")."""
    return str(uuid.uuid5(SR2FHIR_NAMESPACE, "|".join(parts)))
