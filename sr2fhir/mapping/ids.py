"""Deterministic resource ids: UUIDv5 of a stable key (no clock, no randomness)."""

from __future__ import annotations

import hashlib
import uuid

# uuid5(NAMESPACE_URL, "urn:sr2fhir") - fixed forever: changing it changes every resource id.
SR2FHIR_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sr2fhir")
_NAMESPACE_BYTES = SR2FHIR_NAMESPACE.bytes


def resource_id(*parts: str) -> str:
    """The id for a resource keyed by parts, e.g. (SOP Instance UID, "observation", "1.4.1").

    Exactly str(uuid.uuid5(SR2FHIR_NAMESPACE, "|".join(parts))) (RFC 9562 5.5), built from
    the SHA-1 digest directly: a report needs ~70 ids and uuid.UUID costs 3x as much.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "|".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
